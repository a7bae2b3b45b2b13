"""Fixed few-shot exemplars for evaluating base models (the paper: 4-shot, TheoremQA 5-shot).

The exemplars ship as JSON under `dart_hf/fewshot/`, one file per exemplar set, each with the
`source` it was taken from. Benchmarks without a training split of their own borrow a set:
CollegeMath, DeepMind Mathematics and OlympiadBench use the MATH (Minerva) exemplars, as the
reference code does for DeepMind Mathematics; MATH500 is a subset of MATH test.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from dart_hf.errors import DartError, unknown_name

EXEMPLAR_DIR = "fewshot"

# benchmark -> exemplar set (a JSON file under dart_hf/fewshot/)
EXEMPLAR_SETS: dict[str, str] = {
    "math": "math",
    "math500": "math",
    "gsm8k": "gsm8k",
    "college_math": "math",
    "deepmind_mathematics": "math",
    "olympiadbench": "math",
    "theoremqa": "theoremqa",
}

# The paper's shot counts for base models.
DEFAULT_SHOTS: dict[str, int] = {name: 4 for name in EXEMPLAR_SETS} | {"theoremqa": 5}


@functools.cache
def _load_set(name: str) -> dict[str, Any]:
    res = resources.files("dart_hf") / EXEMPLAR_DIR / f"{name}.json"
    data: dict[str, Any] = json.loads(res.read_text(encoding="utf-8"))
    return data


def exemplar_source(benchmark: str) -> str:
    """Where the exemplars used for `benchmark` come from (for cards and results)."""
    if benchmark not in EXEMPLAR_SETS:
        raise unknown_name("benchmark", benchmark, EXEMPLAR_SETS)
    return str(_load_set(EXEMPLAR_SETS[benchmark])["source"])


def default_shots(benchmark: str) -> int:
    """The paper's number of shots for a base model on `benchmark`."""
    if benchmark not in DEFAULT_SHOTS:
        raise unknown_name("benchmark", benchmark, DEFAULT_SHOTS)
    return DEFAULT_SHOTS[benchmark]


def get_exemplars(benchmark: str, k: int) -> tuple[tuple[str, str], ...]:
    """Return the first `k` (query, response) exemplars for `benchmark`.

    Args:
        benchmark: Benchmark registry name.
        k: Number of shots; 0 gives an empty tuple.

    Raises:
        DartError: for an unknown benchmark or more shots than the set holds.
    """
    if benchmark not in EXEMPLAR_SETS:
        raise unknown_name("benchmark", benchmark, EXEMPLAR_SETS)
    if k < 0:
        raise DartError(f"n_shots must be >= 0, got {k}")
    rows = _load_set(EXEMPLAR_SETS[benchmark])["exemplars"]
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


def olympiad_query(
    question: str, answer_type: str | None, multi_answer: bool, unit: str | None
) -> str:
    """The query as OlympiadBench poses it: the official instruction, a newline, the question."""
    return olympiad_instruction(answer_type, multi_answer, unit) + "\n" + question
