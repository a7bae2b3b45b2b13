"""Answer extraction and equivalence on a table of (response, gold, expected) cases.

Cases marked [MV] come from Math-Verify's tests (huggingface/Math-Verify tests/test_all.py),
[REF] from the reference evaluator's checks (hkust-nlp/dart-math nbs/04_eval.ipynb,
`math_evaluator.eq(...)`), [TQA] from TheoremQA's evaluator rules (4% relative tolerance).
"""

from __future__ import annotations

import pytest

from dart_hf.errors import DartError
from dart_hf.grading.anchors import boxed_spans, last_boxed
from dart_hf.grading.text import split_top_level, to_bool, to_minutes, to_option
from dart_hf.grading.verdict import STATUSES, VERDICT_SOURCES, judge


def boxed(ans: str) -> str:
    return f"Let's solve it step by step.\n... so the result follows. $\\boxed{{{ans}}}$."


# (benchmark, response, gold, extra judge kwargs, expected correct)
CASES = [
    # --- fractions / decimals
    ("math", boxed(r"\frac12"), "0.5", {}, True),  # [REF] \frac{1}{2} vs 0.5
    ("math", boxed(r"\frac{1}{2}"), r"\frac12", {}, True),
    ("math", boxed(r"\dfrac{10}{9}"), "10/9", {}, True),  # [MV]
    ("math", boxed(r"-\frac{10}{9}"), "-10/9", {}, True),  # [MV]
    ("math", boxed(r"\frac13"), "1/3", {}, True),  # [MV] malformed fraction
    ("math", boxed("0.5"), r"\frac{1}{3}", {}, False),
    ("math", boxed("1001"), r"\frac{2003}{2}", {}, False),  # [REF]
    ("math", boxed("1001"), "1001.5", {}, False),  # [REF]
    ("math", boxed(".4"), "0.4", {}, True),  # [MV]
    ("math", boxed("3.54e-07"), r"3.54\times 10^{-7}", {}, True),  # [REF]
    ("math", boxed("100"), "1", {}, False),  # [REF]
    # --- thousands separators, money
    ("gsm8k", boxed("1,234"), "1234", {}, True),  # [REF]
    ("gsm8k", boxed("7,425,000"), "7425000", {}, True),  # [MV]
    ("gsm8k", "The final answer is $1,234$. I hope it is correct.", "1234", {}, True),
    ("gsm8k", boxed(r"\$18.90"), "18.9", {}, True),
    ("gsm8k", boxed(r"\$23{,}000"), "23000", {}, True),  # [REF]
    ("gsm8k", boxed("1,235"), "1234", {}, False),
    ("gsm8k", "She makes 9 * 2 = $18 a day.\n#### 18", "18", {}, True),
    # --- without \boxed
    ("math", "So the answer is $\\frac{14}{3}$.", r"\frac{14}{3}", {}, True),
    (
        "math",
        "Final Answer: The final answer is $28 \\%$. I hope it is correct.",
        r"28\%",
        {},
        True,
    ),
    ("math", "The final answer is $7$. I hope it is correct.", "8", {}, False),
    ("math", "Therefore the radius is $r = 5$.", "5", {}, True),  # Math-Verify's extraction
    # --- intervals
    ("math", boxed(r"[0,1)"), r"[0,1)", {}, True),  # [MV]
    ("math", boxed(r"[0,1)"), r"[0,9)", {}, False),  # [MV]
    ("math", boxed(r"[0,9)"), r"(0,9)", {}, False),  # [MV]
    ("math", boxed(r"(-\infty,0)\cup(0,\infty)"), r"(-\infty,0)\cup(0,\infty)", {}, True),  # [REF]
    ("math", boxed("[0,1]"), "[0,3)", {}, False),  # [REF]
    ("college_math", boxed(r"(-\infty, \infty)"), r"$(-\infty, \infty)$", {}, True),
    # --- tuples and sets
    (
        "math",
        boxed(r"\left( 3, \frac{\pi}{2} \right)"),
        r"\left( 3, \frac{\pi}{2} \right)",
        {},
        True,
    ),
    ("math", boxed(r"(3,\pi/2)"), r"(3,\frac{\pi}{2})", {}, True),  # [REF]
    ("math", boxed(r"(2, 3)"), r"(3, 2)", {}, False),
    ("math", boxed(r"\{1, 2\}"), r"\{2, 1\}", {}, True),
    ("math", boxed(r"\{1, 2\}"), r"\{1, 3\}", {}, False),
    # --- expressions
    ("math", boxed("y + x"), "x + y", {}, True),  # [REF]
    ("math", boxed(r"3 * \sqrt{13}"), r"3\sqrt{13}", {}, True),  # [REF]
    ("math", boxed(r"\sqrt3"), r"\sqrt{3}", {}, True),  # [MV]
    ("math", boxed("2-2p"), "2-2p", {}, True),  # [MV]
    ("math", boxed("2+2p"), "2-2p", {}, False),
    ("math", boxed(r"k = \frac{1}{3}"), "1/3", {}, True),  # [MV]
    # --- matrices
    (
        "math",
        boxed(r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}"),
        r"\begin{pmatrix} 0 & 3 \\ 0 & -1 \end{pmatrix}",
        {},
        True,
    ),  # [MV]
    (
        "math",
        boxed(r"\begin{pmatrix} 2 & 3 \\ 0 & -2 \end{pmatrix}"),
        r"\begin{pmatrix} 2 & 3 \\ 0 & 2 \end{pmatrix}",
        {},
        False,
    ),
    # --- percentages
    ("math", boxed(r"28\%"), r"28\%", {}, True),  # [MV]
    ("math", boxed("28"), r"28\%", {}, True),  # [MV] "28" vs 28%
    ("math", boxed("0.28"), r"28\%", {}, True),  # [REF] percent surface forms
    ("math", boxed("29"), r"28\%", {}, False),
    # --- units
    ("math", boxed(r"\frac{1}{3} \text{meters}"), "1/3", {}, True),  # [MV]
    ("college_math", boxed(r"18 \mathrm{~min}"), r"$18 \mathrm{~min}$", {}, True),
    ("college_math", boxed("18 minutes"), r"$18 \mathrm{~min}$", {}, True),
    ("college_math", boxed("19 min"), r"$18 \mathrm{~min}$", {}, False),
    ("olympiadbench", boxed("45"), "45", {"unit": "minute"}, True),
    ("olympiadbench", boxed(r"45 \text{ minute}"), "45", {"unit": "minute"}, True),
    ("olympiadbench", boxed("46"), "45", {"unit": "minute"}, False),
    # --- words (CollegeMath), text answers
    ("college_math", boxed("converges"), "converges", {}, True),
    ("college_math", boxed(r"\text{Convergent}"), "converges", {}, True),
    ("college_math", boxed("diverges"), "converges", {}, False),
    ("college_math", boxed(r"\text{No solution}"), "No solution", {}, True),
    ("college_math", boxed("0"), "No solution", {}, False),
    ("math", boxed(r"\text{Evelyn}"), r"\text{Evelyn}", {}, True),  # [MV]
    ("math", boxed("white"), "White", {}, True),  # [REF]
    ("math", boxed("Briana"), r"\text{Evelyn}", {}, False),
    # --- times
    ("college_math", boxed(r"5:30 \text{ PM}"), "17:30", {}, True),
    ("college_math", boxed("10 a.m."), "10:00 AM", {}, True),
    ("college_math", boxed("10:30 a.m."), "10:00 AM", {}, False),
    # --- booleans and options (TheoremQA)
    ("theoremqa", boxed("True"), "True", {"answer_type": "bool"}, True),
    ("theoremqa", boxed(r"\text{Yes}"), "True", {"answer_type": "bool"}, True),
    ("theoremqa", "The answer is false.", "False", {"answer_type": "bool"}, True),
    ("theoremqa", boxed("False"), "True", {"answer_type": "bool"}, False),
    ("theoremqa", boxed("(c)"), "(c)", {"answer_type": "option"}, True),
    ("theoremqa", boxed(r"\text{(C)}"), "(c)", {"answer_type": "option"}, True),
    ("theoremqa", boxed("(b)"), "(c)", {"answer_type": "option"}, False),
    ("math", boxed(r"\text{(C)}"), r"\text{(C)}", {}, True),
    ("math", boxed(r"\text{(A)}"), r"\text{(C)}", {}, False),
    # --- TheoremQA numbers and lists
    ("theoremqa", boxed("1.37"), "1.3733", {"answer_type": "float"}, True),  # [TQA] within 4%
    ("theoremqa", boxed("1.5"), "1.3733", {"answer_type": "float"}, False),
    ("theoremqa", boxed("11760"), "11760", {"answer_type": "integer"}, True),
    ("theoremqa", boxed("11761"), "11760", {"answer_type": "integer"}, False),
    ("theoremqa", boxed("[0, 5]"), "[0, 5]", {"answer_type": "list of integer"}, True),
    ("theoremqa", boxed("[5, 0]"), "[0, 5]", {"answer_type": "list of integer"}, False),
    ("theoremqa", boxed("[0.33, 0.25]"), "[0.333, 0.25]", {"answer_type": "list of float"}, True),
    ("theoremqa", boxed("[0.5, 0.25]"), "[0.333, 0.25]", {"answer_type": "list of float"}, False),
    # --- OlympiadBench tolerance and multi-answer
    ("olympiadbench", boxed("4.25"), "4.2", {"tolerance": 0.1}, True),
    ("olympiadbench", boxed("4.35"), "4.2", {"tolerance": 0.1}, False),
    (
        "olympiadbench",
        boxed("5, 1, 3"),
        "1,3,5",
        {"multi_answer": True, "answers": ["1,3,5"]},
        True,
    ),
    ("olympiadbench", boxed("1, 3"), "1,3,5", {"multi_answer": True, "answers": ["1,3,5"]}, False),
    (
        "olympiadbench",
        boxed("1, 3, 7"),
        "1,3,5",
        {"multi_answer": True, "answers": ["1,3,5"]},
        False,
    ),
    (
        "olympiadbench",
        boxed(r"\frac{1}{2}, \frac{32}{9}"),
        r"$\frac{32}{9}$, $\frac{1}{2}$",
        {"multi_answer": True, "answers": [r"$\frac{32}{9}$", r"$\frac{1}{2}$"]},
        True,
    ),
    (
        "olympiadbench",
        boxed("(2,2,2), (3,4,3)"),
        "$(2,2,2),(3,4,3)$",
        {"multi_answer": True, "answers": ["$(2,2,2),(3,4,3)$"]},
        True,
    ),
    (
        "olympiadbench",
        boxed("(2,2,2), (3,3,4)"),
        "$(2,2,2),(3,4,3)$",
        {"multi_answer": True, "answers": ["$(2,2,2),(3,4,3)$"]},
        False,
    ),
    # --- DeepMind Mathematics
    ("deepmind_mathematics", boxed("[3]"), "[3]", {}, True),
    ("deepmind_mathematics", boxed("-0.0043"), "-0.0043", {}, True),
    ("deepmind_mathematics", boxed("-0.0042"), "-0.0043", {}, False),
    ("deepmind_mathematics", boxed("2*x**2 + 1"), "2*x**2 + 1", {}, True),
]


@pytest.mark.parametrize(("benchmark", "response", "gold", "extra", "expected"), CASES)
def test_judge_cases(benchmark: str, response: str, gold: str, extra: dict, expected: bool) -> None:
    v = judge(response, gold, benchmark=benchmark, timeout=5, **extra)
    assert v.status == "ok", v
    assert v.correct is expected, v


def test_last_boxed_nested_and_fbox() -> None:
    assert last_boxed(r"a \boxed{1} b \boxed{\frac{1}{2}} c") == r"\frac{1}{2}"
    assert last_boxed(r"\fbox{x^{2}}") == "x^{2}"
    assert last_boxed(r"$\boxed 5$") == "5"
    assert last_boxed(r"\boxed{unclosed") is None
    assert last_boxed("no box") is None
    assert boxed_spans(r"\boxed{1} then \boxed{2") == (["1"], True)
    assert boxed_spans(r"\boxed{\{1\}} \fbox{a}") == ([r"\{1\}", "a"], False)


def test_helpers() -> None:
    assert to_bool(r"\text{Yes}") is True and to_bool("false") is False
    assert to_bool("No solution") is None
    assert to_option(r"\text{(B)}") == "b" and to_option("x") is None
    assert to_minutes("5:30 PM") == 17 * 60 + 30 and to_minutes("5") is None
    assert split_top_level("(1,2), (3,4), x") == ["(1,2)", "(3,4)", "x"]


def test_no_answer_and_bad_gold() -> None:
    assert judge("I do not know.", "5").status == "no_answer"
    v = judge(boxed("5"), "  ")
    assert (v.status, v.correct, v.pred) == ("bad_gold", None, "5")
    assert judge(boxed("5"), None).status == "bad_gold"


def test_unknown_benchmark_is_default_in_rows_but_error_when_forced() -> None:
    from dart_hf.benchmarks import rules_for

    assert judge(boxed("5"), "5", benchmark="my_set").correct is True
    with pytest.raises(DartError, match="valid: college_math"):
        rules_for("nope", strict=True)


# The issue's reported failures (issue 12), each with what must happen.
ISSUE_CASES = [
    # Minerva-style answers: read from their anchor (issue 26: an `Answer:` line, a phrase).
    (
        r"Final Answer: The final answer is $10,\!000$. I hope it is correct.",
        "10000",
        True,
        "ok",
        "answer_line",
    ),
    (r"The final answer is $14{,}916$", "14916", True, "ok", "answer_phrase"),
    (r"Final Answer: The largest $n$ is 34.", "34", True, "ok", "answer_line"),
    # Integers are exact: no tolerance outside the benchmarks that define one.
    (r"\boxed{1000001}", "1000000", False, "ok", "math_verify"),
    (r"\boxed{123456789}", "123456788", False, "ok", "math_verify"),
    # Hedges are wrong; a repeated box of the same answer is not a hedge.
    (r"\boxed{5}\boxed{7}", "7", False, "hedge", "hedge"),
    (r"So $\boxed{5}$. Or maybe, on reflection, $\boxed{7}$.", "7", False, "hedge", "hedge"),
    (r"First $\boxed{7}$, and to conclude: $\boxed{7}$.", "7", True, "ok", "text_match"),
    (r"It is $\boxed{\frac12}$, i.e. $\boxed{0.5}$.", "1/2", True, "ok", "math_verify"),
    # Several boxes that together are the gold set or list of tuples.
    (r"The solutions are $\boxed{1}$ and $\boxed{2}$.", r"\{1,2\}", True, "ok", "multi_box"),
    (r"\boxed{(1,2)} and \boxed{(3,4)}", "(1,2),(3,4)", True, "ok", "multi_box"),
    # Malformed answers.
    (r"\boxed{\left( 2 + 3 }", "5", False, "ok", "malformed_answer"),
    # False negatives of the old extraction.
    (r"\boxed{11,\! 111,\! 111,\! 100}", "11111111100", True, "ok", "math_verify"),
    (
        r"\boxed{\begin{pmatrix}1&2\\3&4\end{pmatrix}}",
        r"\begin{bmatrix}1&2\\3&4\end{bmatrix}",
        True,
        "ok",
        "math_verify",
    ),
    (
        r"\boxed{\begin{pmatrix}1&2\\3&4\end{pmatrix}}",
        r"\left[\begin{array}{cc}1&2\\3&4\end{array}\right]",
        True,
        "ok",
        "math_verify",
    ),
    # Statuses.
    (r"so the answer is \boxed{3", "3", False, "no_answer", "unclosed_box"),
    ("\\boxed{" + "9" * 10_000 + "}", "5", False, "ok", "math_verify"),
    ("I do not know.", "5", False, "no_answer", "no_answer"),
    # Word answers that Math-Verify reads as products of letters.
    (r"\boxed{\text{dod}}", r"\text{odd}", False, "ok", "word_answer"),
    (r"\boxed{\text{odd}}", r"\text{odd}", True, "ok", "word_answer"),
]


@pytest.mark.parametrize(("response", "gold", "correct", "status", "source"), ISSUE_CASES)
def test_issue_cases(response: str, gold: str, correct: bool, status: str, source: str) -> None:
    v = judge(response, gold, benchmark="math")
    assert (v.correct, v.status, v.source) == (correct, status, source), v
    assert v.status in STATUSES and v.source in VERDICT_SOURCES


def test_pred_is_the_anchored_value_or_what_math_verify_extracted() -> None:
    v = judge(r"Final Answer: The final answer is $10,\!000$. I hope it is correct.", "10000")
    assert v.pred == "10000"  # the answer line's value, separators removed
    v = judge(r"We get $10,\!000$ in all.", "10000")
    assert (v.pred, v.source) == ("10,000", "unanchored")  # Math-Verify's extracted text


def test_a_prediction_never_makes_bad_gold() -> None:
    for response in ("\\boxed{" + "9" * 10_000 + "}", r"\boxed{\frac{}{}}", "$$ $$", ""):
        assert judge(response, "5").status != "bad_gold"


def test_tolerance_only_where_the_benchmark_defines_one() -> None:
    assert judge(r"\boxed{1.37}", "1.3733", benchmark="math").correct is False
    v = judge(r"\boxed{1.37}", "1.3733", benchmark="theoremqa", answer_type="float")
    assert (v.correct, v.source) == (True, "tolerance")
    v = judge(r"\boxed{11761}", "11760", benchmark="theoremqa", answer_type="integer")
    assert v.correct is False
    v = judge(r"\boxed{4.25}", "4.2", benchmark="olympiadbench", tolerance=0.1)
    assert (v.correct, v.source) == (True, "tolerance")


MIXED_AND_OPTIONS = [
    # Mixed numbers (a MATH500 gold is `1\frac{4}{5}`; Math-Verify 0.9 reads it as 4/5).
    (r"\boxed{\frac{9}{5}}", r"1\frac{4}{5}", {}, True, "mixed_number"),
    (r"\boxed{\frac{4}{5}}", r"1\frac{4}{5}", {}, False, "math_verify"),
    ("The answer is 4 4/9.", "40/9", {}, True, "mixed_number"),  # [MV] newer tests
    ("The answer is 4 4/9.", "4", {}, False, "answer_phrase"),
    ("11/10 4/9", "139/90", {}, False, "unanchored"),  # not a mixed number
    # Options found by Math-Verify's string extraction (lighteval's tests).
    ("therefore I think it's B", "B", {"answer_type": "option"}, True, "unanchored"),
    ("(D) Alina", "D", {"answer_type": "option"}, True, "unanchored"),
    ("The answer is for sure D, it can't be A or B", "D", {"answer_type": "option"}, True, "option_answer"),
    (
        r"The answer is (c) \(J_g(\theta) = 2J_f(\theta)\).",
        "(c)",
        {"benchmark": "theoremqa"},
        True,
        "option_answer",
    ),
    # Tiny exact values Math-Verify's evalf comparison calls equal (its issue 14).
    (r"$\frac{1}{2006!}$", r"$\frac{1}{2004!}$", {}, False, "unanchored"),
    (r"$\frac{1}{2^{98}}$", r"$\frac{1}{2^{99}}$", {}, False, "unanchored"),
    (r"$1 + \frac{1}{\mathrm{e}}$", r"$1 - \frac{1}{\mathrm{e}}$", {}, False, "unanchored"),
]


@pytest.mark.parametrize(("response", "gold", "extra", "correct", "source"), MIXED_AND_OPTIONS)
def test_mixed_numbers_options_and_exact_values(
    response: str, gold: str, extra: dict, correct: bool, source: str
) -> None:
    v = judge(response, gold, **extra)
    assert (v.correct, v.source) == (correct, source), v


# --- issue 26: anchors first -----------------------------------------------------------------

# (response, gold, correct, verdict_source): the last anchor decides; the order of anchor kinds
# (`anchors.ANCHOR_RULES`) only breaks ties within one line.
ORDERING_CASES = [
    # a box, then a different `####` on a later line: the `####` is the final answer
    ("So $\\boxed{5}$.\n\n#### 7", "7", True, "hash_answer"),
    ("So $\\boxed{5}$.\n\n#### 7", "5", False, "hash_answer"),
    # `####`, then a box on a later line: the box
    ("#### 7\nOn checking, the answer is $\\boxed{5}$.", "5", True, "text_match"),
    # a phrase and a box on the same line: the box (first in the order)
    ("The final answer is 4, i.e. $\\boxed{5}$.", "5", True, "text_match"),
    ("The final answer is 4, i.e. $\\boxed{5}$.", "4", False, "math_verify"),
    # a boxed intermediate result, then "the answer is" on a later line
    ("We get $\\boxed{12}$ apples.\nSo the answer is 15.", "15", True, "answer_phrase"),
    ("We get $\\boxed{12}$ apples.\nSo the answer is 15.", "12", False, "answer_phrase"),
    # a `# Answer` section (PRM800K) after reasoning with other numbers
    ("Step 1: 9 * 2 = 18.\n\n# Answer\n\n17", "18", False, "answer_section"),
    ("Step 1: 9 * 2 = 18.\nStep 2: 18 - 1 = 17.\n\n# Answer\n\n17", "17", True, "answer_section"),
    # a JSON answer field after a boxed value in the reasoning
    ('{"reasoning": "... so $\\\\boxed{6}$ ...",\n "answer": "8"}', "8", True, "json_answer"),
    # an `Answer:` line after prose with the gold in it
    ("There are 6 cages of 8.\nAnswer: 6", "6", True, "answer_line"),
    ("There are 6 cages of 8.\nAnswer: 8", "6", False, "answer_line"),
    # a `####` heading is not an answer ("#### Step 2"), and a phrase with no value is none
    ("#### Step 2\nThe final answer is: $\\boxed{3}$", "3", True, "text_match"),
    # a correction: the last statement wins
    ("The answer is 12.\nWait, I made an error. The answer is 14.", "14", True, "answer_phrase"),
]


@pytest.mark.parametrize(("response", "gold", "correct", "source"), ORDERING_CASES)
def test_the_last_anchor_is_the_final_answer(response: str, gold: str, correct: bool, source: str) -> None:
    v = judge(response, gold)
    assert (v.correct, v.source) == (correct, source), v


# The value of a text anchor: to the end of its clause, trailing words and units dropped.
VALUE_CASES = [
    ("The answer is 18 dollars per day.", "18", True),
    ("The answer is 18, since 9 * 2 = 18 and 3 + 4 = 7.", "18", True),
    ("The answer is 18, since 9 * 2 = 18 and 3 + 4 = 7.", "7", False),
    ("The final answer is 32 + 8 + 4 + 4 = 18 + 8 + 16 = 24.", "24", True),  # a chain's end
    ("The final answer is 32 + 8 + 4 + 4 = 18 + 8 + 16 = 24.", "48", False),
    ("The answer is $1,260.", "1260", True),  # currency and separators
    ('"answer": "$131,250"', "131250", True),
    ('"answer": "John makes $1260 in a full 7-day week."', "1260", True),  # a sentence
    ('"answer": "2000 / 10 = 200 bags, 200 bags * $5/bag = $1000"', "1000", True),
    ("Final Answer: The largest $n$ is 34.", "34", True),
    ("Answer: 2x + 3", "2x+3", True),  # a variable after a number is not a unit
    ("The answer is 4 or 5.", "4", False),  # two values: not the gold
]


@pytest.mark.parametrize(("response", "gold", "correct"), VALUE_CASES)
def test_anchor_values(response: str, gold: str, correct: bool) -> None:
    assert judge(response, gold).correct is correct


def test_compound_quantities_are_read_whole_or_not_at_all() -> None:
    # ZeroEval (WildEval/ZeroEval result_dirs/gsm/yi-large-preview.json, gsm8k-main-test-#830,
    # commit 8c1485e): "answer": "18 hours and 48 minutes" for gold 1128 (minutes)
    text = '"answer": "18 hours and 48 minutes"'
    v = judge(text, "1128")
    assert (v.correct, v.source) == (True, "compound_quantity")
    assert judge(text, "18").correct is False  # not its first part
    assert judge("The answer is 18 hours and 48 minutes.", "18.8").correct is True  # in hours
    v = judge("The answer is 5 feet 6 inches.", "66")  # not a time: not read whole
    assert (v.correct, v.status) == (False, "no_answer")


@pytest.mark.parametrize("require_anchor", [False, True])
def test_an_unanchored_answer_is_no_answer_when_one_is_required(require_anchor: bool) -> None:
    cut = "First, 9 * 2 = 18. Then she has 18 eggs and sells"  # cut off, no answer stated
    v = judge(cut, "18", require_anchor=require_anchor)
    if require_anchor:
        assert (v.correct, v.status, v.source) == (False, "no_answer", "no_anchor")
    else:  # evaluation reads it leniently (Math-Verify's unanchored extraction)
        assert v.source == "unanchored" and v.status == "ok"
    v = judge("So she makes 18 dollars.\n#### 18", "18", require_anchor=require_anchor)
    assert (v.correct, v.source) == (True, "hash_answer")


# --- issue 26: percent, units, options, notation ---------------------------------------------

# The percent rule's direction: a percent answer `p%` equals a bare gold `p` exactly (Math-Verify
# accepts `50%` but not `50.0%` for 50); Math-Verify's own: `p\%` gold accepts `p` and `p/100`,
# and `p%` equals `p/100` (`28%` for 7/25).
PERCENT_CASES = [
    ("The answer is 50.0%.", "50", True, "percent"),
    ("$\\boxed{20.0\\%}$", "20", True, "percent"),
    ('"answer": "12.50%"', "12.5", True, "percent"),
    ("The answer is 50%.", "50", True, "answer_phrase"),
    ("$\\boxed{50}$", "50\\%", True, "math_verify"),
    ("$\\boxed{28\\%}$", "7/25", True, "math_verify"),
    ("The answer is 51.0%.", "50", False, "answer_phrase"),
]


@pytest.mark.parametrize(("response", "gold", "correct", "source"), PERCENT_CASES)
def test_percent_direction(response: str, gold: str, correct: bool, source: str) -> None:
    v = judge(response, gold)
    assert (v.correct, v.source) == (correct, source), v


NOTATION_CASES = [
    # set-builder against interval (Math-Verify: False)
    ("$\\boxed{\\{x \\mid -2 \\le x \\le 7\\}}$", "[-2,7]", True, "set_builder"),
    ("$\\boxed{\\{x : x < 3\\}}$", "(-\\infty, 3)", True, "set_builder"),
    ("$\\boxed{\\{x : x < 4\\}}$", "(-\\infty, 3)", False, "math_verify"),
    # binomial notations Math-Verify does not read (it reads \binom, \dbinom, \choose)
    ("$\\boxed{C(8,2)}$", "28", True, "binomial"),
    ("$\\boxed{_8C_2}$", "28", True, "binomial"),
    ('"answer": "8 choose 2"', "28", True, "binomial"),
    ("$\\boxed{C(8,3)}$", "28", False, "math_verify"),
    # a variable that looks like a unit is not stripped (Math-Verify: 1/2 h read as 1/2)
    ("$\\boxed{h/2}$", "\\frac{1}{2}h", True, "unit_variable"),
    ("$\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}h", False, "unit_variable"),
    ("$\\boxed{10}$", "10\\text{ cm}", True, "math_verify"),  # a unit in \text is a unit
    # a clock time on the hour for an hour gold (GSM8K "what time")
    ('"answer": "2:00 pm"', "2", True, "clock_hour"),
    ('"answer": "2:30 pm"', "2", False, "json_answer"),
]


@pytest.mark.parametrize(("response", "gold", "correct", "source"), NOTATION_CASES)
def test_notation_rules(response: str, gold: str, correct: bool, source: str) -> None:
    v = judge(response, gold)
    assert (v.correct, v.source) == (correct, source), v


OPTION_CASES = [
    ("The correct option is (B) 12.", "\\text{(B)}", {}, True),
    ("$\\boxed{B: 12}$", "\\text{(B)}", {}, True),
    ("$\\boxed{(B)\\ 12}$", "\\text{(B)}", {}, True),
    ("$\\boxed{\\textbf{(C)}\\ 5}$", "(C)", {}, True),
    ("So the answer is B.", "\\text{(B)}", {}, True),
    ("The correct option is (C) 12.", "\\text{(B)}", {}, False),
    ("The correct option is (b).", "(b)", {"benchmark": "theoremqa"}, True),
]


@pytest.mark.parametrize(("response", "gold", "extra", "correct"), OPTION_CASES)
def test_options_in_prose_parentheses_and_boxes(response: str, gold: str, extra: dict, correct: bool) -> None:
    v = judge(response, gold, **extra)
    assert (v.correct, v.source) == (correct, "option_answer"), v


def test_rule_lists_are_data_and_every_name_is_a_verdict_source() -> None:
    from dart_hf.grading.anchors import ANCHOR_KINDS
    from dart_hf.grading.compare import COMPARE_RULES
    from dart_hf.grading.verdict import JUDGE_RULES

    assert ANCHOR_KINDS[0] == "boxed" and ANCHOR_KINDS[-1] == "answer_phrase"
    names = [*ANCHOR_KINDS[1:], *(r.name for r in COMPARE_RULES), "unanchored", "no_anchor"]
    assert set(names) <= set(VERDICT_SOURCES)
    assert [r.name for r in JUDGE_RULES][-1] == "answer"


def test_a_gold_parse_out_of_time_is_a_timeout_and_not_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 27.12: under a huge prediction, Math-Verify's parse of the gold ran out of its
    (signal-based) time and returned nothing, which read as an unreadable gold (`bad_gold`)
    and was cached, so every later row with that gold in the worker was `bad_gold` too."""
    import math_verify

    from dart_hf.grading import parse

    real = math_verify.parse
    slow = {"left": 1}

    def out_of_time(text: str, *args: object, parsing_timeout: int = 5, **kw: object) -> list:
        if text == "$17$" and slow["left"]:
            slow["left"] -= 1
            import time as _time

            _time.sleep(parsing_timeout)  # what a busy worker's alarm cut short
            return []
        return real(text, *args, parsing_timeout=parsing_timeout, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(math_verify, "parse", out_of_time)
    parse._GOLDS.clear()
    v = judge("\\boxed{" + "9" * 10_000 + "}", "17", timeout=1)
    assert (v.status, v.correct) == ("timeout", False), v
    v = judge("\\boxed{17}", "17", timeout=1)
    assert (v.status, v.correct) == ("ok", True), v  # the gold reads, now it has the time
