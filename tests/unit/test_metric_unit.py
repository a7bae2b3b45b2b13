"""The shipped `evaluate` metric without grading: loads offline, its layout, bad input
(the graded cases: tests/e2e/test_metric.py)."""

from __future__ import annotations

import pytest

evaluate = pytest.importorskip("evaluate")

from dart_hf.metric import METRIC_PATH  # noqa: E402


@pytest.fixture(scope="module")
def metric():  # type: ignore[no-untyped-def]
    return evaluate.load(METRIC_PATH)


def test_loads_offline_from_its_path(metric) -> None:  # type: ignore[no-untyped-def]
    assert metric.name == "math_accuracy"
    assert "Math-Verify" in metric.description
    # one response per item, or a list of the K responses of each item
    assert [set(f) for f in metric.features] == [{"predictions", "references"}] * 2
    assert type(metric.features[1]["predictions"]).__name__ in {"Sequence", "List"}


def test_mismatched_lengths_are_refused(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="benchmarks has 1 items"):
        metric.compute(predictions=["a", "b"], references=["1", "2"], benchmarks=["math"])


def test_laid_out_as_evaluate_metrics_are(metric) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    folder = Path(METRIC_PATH)
    assert (folder / f"{folder.name}.py").is_file()  # a folder named after its script
    card = (folder / "README.md").read_text(encoding="utf-8")
    for section in (
        "## Metric Description",
        "### Inputs",
        "### Output Values",
        "### Examples",
        "## Limitations and Bias",
        "## Citation",
    ):
        assert section in card, section
    assert metric.homepage and metric.codebase_urls and metric.license == "apache-2.0"


def test_nothing_to_grade_is_not_an_accuracy(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no predictions"):
        metric.compute(predictions=[], references=[])
    out = metric.compute(predictions=["$\\boxed{1}$"], references=[""], benchmarks=["gsm8k"])
    assert out["accuracy"] is None and out["bad_gold"] == 1 and out["n"] == 0
