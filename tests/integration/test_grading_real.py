"""Grading on the real files in ../shared/data, through the sources loaders and the pool.

For each pool and benchmark (a seeded sample of at most `SAMPLE` rows; every row where the
source is smaller):

- self-check: the gold answer written as a model would write it grades correct (>= 99%);
- cross-check: the gold paired with another row's (textually different) answer grades wrong
  (>= 99.5%);
- MATH train reference solutions graded against their own gold (>= 99.5%).

Per-source figures are printed (run with `-s` to see them).
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest

from dart_hf.config import GradeConfig
from dart_hf.grading.grade import grade_batch
from dart_hf.grading.text import strip_math_delimiters

SAMPLE = 300
POOLS = ["math", "gsm8k"]
BENCHMARKS = [
    "math",
    "math500",
    "gsm8k",
    "college_math",
    "deepmind_mathematics",
    "olympiadbench",
    "theoremqa",
]
CONFIG = GradeConfig(timeout_s=5.0, num_proc=2)


def as_model_response(gold: str) -> str:
    """A response ending the way a model trained on MATH-style data ends it."""
    return (
        "Let's think step by step.\nAfter simplifying, we get the result.\n"
        f"The final answer is $\\boxed{{{strip_math_delimiters(gold)}}}$."
    )


def other_answers(answers: list[str]) -> list[str]:
    """For each row, the answer of a row half the table away whose answer text differs."""
    n = len(answers)
    out = []
    for i, a in enumerate(answers):
        for k in range(n // 2, n // 2 + n):
            b = answers[(i + k) % n]
            if b.strip() != a.strip():
                break
        out.append(b)
    return out


def _load(kind: str, name: str, data_dir: Path) -> datasets.Dataset:
    from dart_hf.sources import load_benchmark, load_pool

    ds = load_pool(name, data_dir=data_dir) if kind == "pool" else load_benchmark(name, data_dir=data_dir)
    if len(ds) > SAMPLE:
        ds = ds.shuffle(seed=0).select(range(SAMPLE))
    return ds


def _grade(ds: datasets.Dataset, responses: list[str]) -> dict[str, list]:
    batch = ds.to_dict()
    batch["response"] = responses
    return grade_batch(batch, config=CONFIG)


CASES = [("pool", n) for n in POOLS] + [("benchmark", n) for n in BENCHMARKS]


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_self_and_cross_check(kind: str, name: str, shared_data: Path) -> None:
    ds = _load(kind, name, shared_data)
    golds = list(ds["answer"])
    self_out = _grade(ds, [as_model_response(g) for g in golds])
    cross_out = _grade(ds, [as_model_response(o) for o in other_answers(golds)])
    n = len(golds)
    self_ok = sum(c is True for c in self_out["correct"])
    cross_wrong = sum(c is False for c in cross_out["correct"])
    print(
        f"\n{kind} {name}: self {self_ok}/{n} = {100 * self_ok / n:.2f}%, "
        f"cross wrong {cross_wrong}/{n} = {100 * cross_wrong / n:.2f}%"
    )
    assert self_ok >= 0.99 * n
    assert cross_wrong >= 0.995 * n


def test_math_train_reference_solutions(shared_data: Path) -> None:
    ds = _load("pool", "math", shared_data)
    out = _grade(ds, list(ds["solution"]))
    ok = sum(c is True for c in out["correct"])
    print(f"\nMATH train reference solutions: {ok}/{len(ds)} = {100 * ok / len(ds):.2f}%")
    assert ok >= 0.995 * len(ds)
