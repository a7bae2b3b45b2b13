"""Few-shot exemplars for base models (the paper: 4-shot, TheoremQA 5-shot), and instructions.

The exemplars ship as JSON under `dart_hf/fewshot/`, one file per exemplar set, each with the
`source` it was taken from; a benchmark's record (`benchmarks.BENCHMARKS`) names its set and
its default number of shots. Benchmarks without a training split of their own borrow a set:
CollegeMath, DeepMind Mathematics and OlympiadBench use the MATH (Minerva) exemplars, as the
reference code does for DeepMind Mathematics; MATH500 is a subset of MATH test.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from dart_hf import benchmarks
from dart_hf.errors import DartError, unknown_name

EXEMPLAR_DIR = "fewshot"


@functools.cache
def _load_set(name: str) -> dict[str, Any]:
    res = resources.files("dart_hf") / EXEMPLAR_DIR / f"{name}.json"
    data: dict[str, Any] = json.loads(res.read_text(encoding="utf-8"))
    return data


def exemplar_source(benchmark: str) -> str:
    """Where the exemplars used for `benchmark` come from (for cards and results)."""
    return str(_load_set(benchmarks.get(benchmark).exemplars)["source"])


def default_shots(benchmark: str) -> int:
    """The paper's number of shots for a base model on `benchmark`."""
    return benchmarks.get(benchmark).shots


def get_exemplars(benchmark: str, k: int) -> tuple[tuple[str, str], ...]:
    """Return the first `k` (query, response) exemplars for `benchmark`.

    Args:
        benchmark: Benchmark registry name.
        k: Number of shots; 0 gives an empty tuple.

    Raises:
        DartError: for an unknown benchmark or more shots than the set holds.
    """
    record = benchmarks.get(benchmark)
    if k < 0:
        raise DartError(f"n_shots must be >= 0, got {k}")
    rows = _load_set(record.exemplars)["exemplars"]
    if k > len(rows):
        raise DartError(f"{benchmark}: {k} shots asked, but its exemplar set holds {len(rows)}")
    return tuple((str(r["query"]), str(r["response"])) for r in rows[:k])


# OlympiadBench's official English instruction for open-ended math problems (OpenBMB/OlympiadBench,
# as used by the DART-Math reference code). The wording, including its capital "The problem",
# is kept as published so results stay comparable.
_OB_TYPE_TEXT: dict[str, str] = {
    "Numerical": "a numerical value",
    "Expression": "an expression",
    "Equation": "an equation",
    "Interval": "an interval",
}


def _ob_single_type(answer_type: str) -> str:
    for key, text in _OB_TYPE_TEXT.items():
        if key in answer_type:
            return text
    raise DartError(f"olympiadbench: unknown answer_type {answer_type!r}")


def _ob_type_sentence(answer_type: str, multi_answer: bool) -> str:
    # "Tuple" means different things in different problems, so the official prompt omits it.
    if "Need_human_evaluate" in answer_type or "Tuple" in answer_type:
        return ""
    if not multi_answer:
        return f"The answer of The problem should be {_ob_single_type(answer_type)}. "
    texts = [_ob_single_type(t) for t in answer_type.split(",")]
    if len(set(texts)) == 1:
        return f"The problem has multiple answers, each of them should be {texts[0]}. "
    return f"The problem has multiple answers, with the answers in order being {', '.join(texts)}. "


def olympiad_instruction(answer_type: str | None, multi_answer: bool, unit: str | None) -> str:
    """OlympiadBench's official instruction for an English open-ended math problem.

    Args:
        answer_type: The item's `answer_type` ("Numerical", "Expression", "Tuple", ...).
        multi_answer: The item's `is_multiple_answer`.
        unit: The item's unit, if any (the answer must then leave it out of the box).
    """
    boxed = "\\boxed{multiple answers connected with commas}" if multi_answer else "\\boxed{answer}"
    unit_text = ""
    if unit:
        boxed += "(unit)"
        unit_text = ", note that the unit of the answer should not be included in \\boxed{}"
    type_text = _ob_type_sentence(answer_type or "", multi_answer)
    return (
        "The following is an open-ended problem from an International Math competition. "
        f"{type_text}Please calculate the answer according to the given requirements and the "
        "information provided. Please use LaTeX format to represent the variables and formulas "
        f'used in the solution process and results. Please end your solution with "So the final '
        f'answer is {boxed}." and give the result explicitly{unit_text}.'
    )


def olympiad_query(question: str, answer_type: str | None, multi_answer: bool, unit: str | None) -> str:
    """The query as OlympiadBench poses it: the official instruction, a newline, the question."""
    return olympiad_instruction(answer_type, multi_answer, unit) + "\n" + question


def _pose_olympiad(batch: dict[str, list]) -> list[str]:
    n = len(batch["query"])
    types = batch.get("answer_type") or [None] * n
    multi = batch.get("multi_answer") or [False] * n
    units = batch.get("unit") or [None] * n
    return [
        olympiad_query(q, t, bool(m), u)
        for q, t, m, u in zip(batch["query"], types, multi, units, strict=True)
    ]


#: Instructions a benchmark's record may name (`Benchmark.instruction`): a function from a
#: batch of normalised rows to its queries as the benchmark poses them.
INSTRUCTIONS: dict[str, Callable[[dict[str, list]], list[str]]] = {
    "olympiadbench": _pose_olympiad,
}


def pose_queries(batch: dict[str, list], benchmark: str) -> list[str]:
    """The batch's queries as `benchmark` poses them (its record's instruction, if any)."""
    name = benchmarks.get(benchmark).instruction
    if name is None:
        return list(batch["query"])
    if name not in INSTRUCTIONS:
        raise unknown_name("instruction", name, INSTRUCTIONS)
    return INSTRUCTIONS[name](batch)
