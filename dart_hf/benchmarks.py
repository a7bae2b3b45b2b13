"""The benchmark registry: one record per benchmark, read by every module that needs one.

A record holds everything that differs between benchmarks: where its data lives and how it is
normalised (`sources`), its licence and label (`sources`, `eval_results`, cards), how its
answers are compared (`answers`), its few-shot exemplars and default shots (`fewshot`), the
instruction a query is posed with (`fewshot.INSTRUCTIONS`, used by `evaluation`), whether it
counts in the paper's average (`eval_results`) and whether pools are decontaminated against
it (`build`). Adding a benchmark is one record here plus its data file; nothing else names it.

Modules look records up when they run, not when they are imported, so a record added to
`BENCHMARKS` at run time (a plug-in, a test) is seen everywhere.

This module imports nothing from dart_hf but `errors`: every other module may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dart_hf.errors import DartError, unknown_name


@dataclass(frozen=True)
class AnswerRules:
    """Per-benchmark answer handling.

    Attributes:
        float_rel_tol: Relative tolerance for float golds (TheoremQA's own evaluator: 4%).
            None: numbers are compared by Math-Verify (integers exactly).
        options: Whether golds like `(a)` are multiple-choice letters.
    """

    float_rel_tol: float | None = None
    options: bool = False

    def __post_init__(self) -> None:
        if self.float_rel_tol is not None and not 0 <= self.float_rel_tol < 1:
            raise ValueError(f"float_rel_tol must be in [0, 1), got {self.float_rel_tol}")


DEFAULT_RULES = AnswerRules()
"""Rules for rows whose `source` is not a benchmark (pools, user files)."""


@dataclass(frozen=True)
class Benchmark:
    """Everything dart-hf knows about one benchmark.

    Attributes:
        name: Registry key; also the `source` of its normalised rows.
        label: Name in tables, plots and cards ("MATH", "GSM8K").
        file: Data file relative to a data dir laid out like ../shared/data.
        normaliser: Raw format of the file (a key of `normalise.NORMALISERS`).
        licence: Licence of the data, as the cards state it.
        description: One line for `dart-hf benchmarks` and the cards.
        rules: How answers are compared (`answers.judge`).
        exemplars: Few-shot exemplar set, a JSON file under `dart_hf/fewshot/`.
        shots: The paper's number of shots for a base model (`qa` template).
        instruction: How a query is posed (a key of `fewshot.INSTRUCTIONS`); None: as it is.
        in_average: Whether it is one of the paper's six, whose mean is the average.
        decontaminate: Whether build pools are 13-gram decontaminated against it.
        by_level: Whether results are also reported by level and subject (MATH's 1-5).
        split: The split a Hub repo id is read from.
    """

    name: str
    label: str
    file: str
    normaliser: str
    licence: str
    description: str
    rules: AnswerRules = field(default_factory=AnswerRules)
    exemplars: str = "math"
    shots: int = 4
    instruction: str | None = None
    in_average: bool = False
    decontaminate: bool = False
    by_level: bool = False
    split: str = "test"

    def __post_init__(self) -> None:
        if Path(self.file).is_absolute() or not self.file.endswith((".jsonl", ".parquet")):
            raise DartError(f"benchmark {self.name}: file must be a relative .jsonl/.parquet path")
        if self.shots < 0:
            raise DartError(f"benchmark {self.name}: shots must be >= 0, got {self.shots}")


#: The registry (`dart-hf benchmarks` lists it in this order; tables put the six first).
BENCHMARKS: dict[str, Benchmark] = {
    "math": Benchmark(
        "math",
        "MATH",
        "math/test.jsonl",
        "math",
        "MIT",
        "MATH test (Hendrycks et al.), levels 1-5",
        by_level=True,
        in_average=True,
        decontaminate=True,
    ),
    "math500": Benchmark(
        "math500",
        "MATH500",
        "math500/test.jsonl",
        "math500",
        "MIT",
        "MATH-500 subset of MATH test",
        by_level=True,
    ),
    "gsm8k": Benchmark(
        "gsm8k",
        "GSM8K",
        "gsm8k/test.jsonl",
        "gsm8k",
        "MIT",
        "GSM8K test",
        exemplars="gsm8k",
        in_average=True,
        decontaminate=True,
    ),
    "college_math": Benchmark(
        "college_math",
        "CollegeMath",
        "college_math/test.jsonl",
        "college_math",
        "per row (CC BY, CC BY-NC-SA, GFDL, ...)",
        "CollegeMath (MWPBench) test",
        in_average=True,
        decontaminate=True,
    ),
    "deepmind_mathematics": Benchmark(
        "deepmind_mathematics",
        "DeepMind",
        "deepmind_mathematics/test.jsonl",
        "deepmind_mathematics",
        "Apache-2.0",
        "DeepMind Mathematics sample used by DART-Math",
        in_average=True,
        decontaminate=True,
    ),
    "olympiadbench": Benchmark(
        "olympiadbench",
        "OlympiadBench",
        "olympiadbench/test.jsonl",
        "olympiadbench",
        "Apache-2.0",
        "OlympiadBench OE_TO_maths_en_COMP",
        instruction="olympiadbench",
        in_average=True,
        decontaminate=True,
    ),
    "theoremqa": Benchmark(
        "theoremqa",
        "TheoremQA",
        "theoremqa/test.jsonl",
        "theoremqa",
        "MIT",
        "TheoremQA (Chen et al.), theorem-driven STEM questions",
        rules=AnswerRules(float_rel_tol=0.04, options=True),
        exemplars="theoremqa",
        shots=5,
        in_average=True,
        decontaminate=True,
    ),
}


def get(name: str) -> Benchmark:
    """The record of `name`; an unknown name is a `DartError` listing the known ones."""
    if name not in BENCHMARKS:
        raise unknown_name("benchmark", name, BENCHMARKS)
    return BENCHMARKS[name]


def names() -> tuple[str, ...]:
    """Every benchmark, in table order (the paper's six first)."""
    six = averaged()
    return six + tuple(n for n in BENCHMARKS if n not in six)


def averaged() -> tuple[str, ...]:
    """The benchmarks whose mean is the reported average (the paper's six)."""
    return tuple(n for n, b in BENCHMARKS.items() if b.in_average)


def decontaminated() -> tuple[str, ...]:
    """The benchmarks build pools are decontaminated against."""
    return tuple(n for n, b in BENCHMARKS.items() if b.decontaminate)


def label(name: str) -> str:
    """Display name of a benchmark; an unregistered name is shown as it is."""
    record = BENCHMARKS.get(name)
    return record.label if record else name


def rules_for(name: str | None, *, strict: bool = False) -> AnswerRules:
    """Answer rules of a benchmark; unknown names raise when `strict`, else use the defaults."""
    if name is None:
        return DEFAULT_RULES
    if name in BENCHMARKS:
        return BENCHMARKS[name].rules
    if strict:
        raise unknown_name("benchmark", name, BENCHMARKS)
    return DEFAULT_RULES
