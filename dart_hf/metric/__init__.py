"""The `evaluate` metric shipped with dart-hf: math final-answer accuracy with dart-hf's grader.

Laid out as the evaluate library lays out its metrics: a folder named after its script
(`math_accuracy/math_accuracy.py`) with a metric card (`math_accuracy/README.md`). Load it
offline from its folder (Hub-hosted metrics cannot load without network)::

    import evaluate
    from dart_hf.metric import METRIC_PATH

    metric = evaluate.load(METRIC_PATH)
    metric.compute(predictions=[r"... \\boxed{2}"], references=["2"], benchmarks=["math"])
"""

from __future__ import annotations

from pathlib import Path

METRIC_PATH = str(Path(__file__).resolve().parent / "math_accuracy")
"""The metric's folder, to give `evaluate.load`."""
