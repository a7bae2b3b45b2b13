"""sampling/fewshot.py: exemplar sets by benchmark record, OlympiadBench's official instruction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dart_hf.errors import DartError
from dart_hf.sampling import fewshot

FEWSHOT = Path(__file__).resolve().parents[2] / "dart_hf" / "fewshot"


def _file(name: str) -> dict:
    return json.loads((FEWSHOT / f"{name}.json").read_text(encoding="utf-8"))


def test_exemplars_are_the_first_k_of_the_benchmarks_set() -> None:
    rows = _file("math")["exemplars"]
    got = fewshot.get_exemplars("math", 4)
    assert got == tuple((r["query"], r["response"]) for r in rows[:4])
    assert fewshot.get_exemplars("math", 0) == ()
    # benchmarks without a training split borrow the MATH (Minerva) set
    assert fewshot.get_exemplars("college_math", 2) == got[:2]
    assert fewshot.exemplar_source("math") == _file("math")["source"]


def test_paper_shots() -> None:
    assert fewshot.default_shots("math") == 4 and fewshot.default_shots("theoremqa") == 5
    assert len(fewshot.get_exemplars("theoremqa", 5)) == 5


def test_bad_shot_counts_and_names() -> None:
    held = len(_file("gsm8k")["exemplars"])
    with pytest.raises(DartError, match=f"gsm8k: {held + 1} shots asked, .* holds {held}"):
        fewshot.get_exemplars("gsm8k", held + 1)
    with pytest.raises(DartError, match="n_shots must be >= 0"):
        fewshot.get_exemplars("gsm8k", -1)
    with pytest.raises(DartError, match="unknown benchmark"):
        fewshot.get_exemplars("nope", 1)


def test_olympiad_instruction_follows_the_official_wording() -> None:
    one = fewshot.olympiad_instruction("Numerical", False, None)
    assert "The answer of The problem should be a numerical value. " in one
    assert one.endswith('"So the final answer is \\boxed{answer}." and give the result explicitly.')
    many = fewshot.olympiad_instruction("Expression,Numerical", True, "m")
    assert "with the answers in order being an expression, a numerical value. " in many
    assert "\\boxed{multiple answers connected with commas}(unit)" in many
    assert many.endswith("the unit of the answer should not be included in \\boxed{}.")
    same = fewshot.olympiad_instruction("Interval,Interval", True, None)
    assert "each of them should be an interval. " in same
    assert "should be" not in fewshot.olympiad_instruction("Tuple", False, None)
    with pytest.raises(DartError, match="unknown answer_type 'Matrix'"):
        fewshot.olympiad_instruction("Matrix", False, None)


def test_pose_queries_applies_the_benchmarks_instruction() -> None:
    batch = {"query": ["Find x."], "answer_type": ["Numerical"], "multi_answer": [False], "unit": [None]}
    assert fewshot.pose_queries(batch, "math") == ["Find x."]
    posed = fewshot.pose_queries(batch, "olympiadbench")
    assert posed == [fewshot.olympiad_instruction("Numerical", False, None) + "\nFind x."]
