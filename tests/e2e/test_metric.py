"""The shipped `evaluate` metric: loads offline; accuracy, SE, pass@k against hand-read verdicts."""

from __future__ import annotations

import pytest

evaluate = pytest.importorskip("evaluate")

from dart_hf.metric import METRIC_PATH  # noqa: E402


@pytest.fixture(scope="module")
def metric():  # type: ignore[no-untyped-def]
    return evaluate.load(METRIC_PATH)


def test_accuracy_on_a_table_of_cases(metric) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ("So the answer is $\\boxed{\\frac{1}{2}}$.", "0.5", True),
        ("Thus $x = \\boxed{1,234}$.", "1234", True),
        ("The domain is $\\boxed{[2,5)}$.", "[2,5)", True),
        ("We get $\\boxed{7}$.", "8", False),
        ("I cannot solve this.", "3", False),
    ]
    out = metric.compute(
        predictions=[c[0] for c in cases],
        references=[c[1] for c in cases],
        benchmarks=["math"] * len(cases),
    )
    assert out["n"] == 5 and out["correct"] == 3 and out["accuracy"] == pytest.approx(0.6)
    assert out["no_answer"] == 1


def test_truncated_responses_are_wrong_and_bad_gold_is_left_out(metric) -> None:  # type: ignore[no-untyped-def]
    out = metric.compute(
        predictions=["$\\boxed{4}$", "$\\boxed{4}$", "$\\boxed{4}$"],
        references=["4", "4", ""],
        benchmarks=["gsm8k"] * 3,
        finish_reasons=["stop", "length", "stop"],
    )
    assert out["truncated"] == 1 and out["bad_gold"] == 1
    assert (out["n"], out["correct"], out["accuracy"]) == (2, 1, 0.5)


# (response, gold, benchmark, verdict read by hand): the same "3.1" is right on TheoremQA
# (4% relative tolerance on floats) and wrong on MATH (no tolerance); options compare as
# letters; DeepMind's 2.0 is the integer 2.
BENCHMARK_CASES = [
    ("The answer is $\\boxed{True}$.", "True", "theoremqa", True),
    ("So the final answer is $\\boxed{(b)}$.", "(b)", "theoremqa", True),
    ("So the final answer is $\\boxed{(c)}$.", "(b)", "theoremqa", False),
    ("$\\boxed{3.1}$", "3.0", "theoremqa", True),
    ("$\\boxed{3.1}$", "3.0", "math", False),
    ("$\\boxed{2.0}$", "2", "deepmind_mathematics", True),
    ("$\\boxed{-5}$", "5", "deepmind_mathematics", False),
]


def test_each_benchmark_grades_by_its_rules(metric) -> None:  # type: ignore[no-untyped-def]
    out = metric.compute(
        predictions=[c[0] for c in BENCHMARK_CASES],
        references=[c[1] for c in BENCHMARK_CASES],
        benchmarks=[c[2] for c in BENCHMARK_CASES],
    )
    # 4 of 7 right; sample sd of four 1s and three 0s is sqrt(2/7), so se = sqrt(2/7) / sqrt(7)
    assert (out["n"], out["correct"]) == (7, 4)
    assert out["accuracy"] == pytest.approx(4 / 7)
    assert out["se"] == pytest.approx(2**0.5 / 7)
    assert (out["ok"], out["no_answer"], out["bad_gold"]) == (7, 0, 0)
    for response, gold, bench, want in BENCHMARK_CASES:  # one at a time: no pooling effect
        one = metric.compute(predictions=[response], references=[gold], benchmarks=[bench])
        assert one["correct"] == int(want), (response, gold, bench)


def test_pass_at_k_follows_each_benchmark(metric) -> None:  # type: ignore[no-untyped-def]
    out = metric.compute(
        predictions=[
            ["$\\boxed{3.1}$", "$\\boxed{3.5}$", "$\\boxed{2.95}$"],  # 3%, 17%, 2% off: 2 of 3
            ["$\\boxed{3.1}$", "$\\boxed{4}$", "$\\boxed{3}$"],  # exact only: 1 of 3
        ],
        references=["3.0", "3"],
        benchmarks=["theoremqa", "math"],
    )
    # pass@k = 1 - C(n-c, k) / C(n, k) per item, averaged: item 1 (c=2), item 2 (c=1) of n=3
    assert (out["n"], out["samples"]) == (2, 3)
    assert out["pass@1"] == pytest.approx((2 / 3 + 1 / 3) / 2) == out["accuracy"]
    assert out["pass@2"] == pytest.approx((1 + (1 - 1 / 3)) / 2)
    assert out["pass@3"] == 1.0


def test_k_responses_per_item_give_pass_and_maj_at_k(metric) -> None:  # type: ignore[no-untyped-def]
    out = metric.compute(
        predictions=[
            ["$\\boxed{2}$", "$\\boxed{3}$", "$\\boxed{3.0}$", "no answer here"],
            ["$\\boxed{1}$"] * 4,
            ["$\\boxed{5}$"] * 4,
        ],
        references=["2", "1", ""],
        benchmarks=["math"] * 3,
    )
    # the bad_gold item is left out; item 1: 1 of 4 correct, item 2: 4 of 4
    assert (out["n"], out["samples"], out["bad_gold"]) == (2, 4, 4)
    assert out["accuracy"] == pytest.approx(5 / 8) == out["pass@1"]
    assert out["pass@2"] == pytest.approx((1 - 3 / 6 + 1) / 2) and out["pass@4"] == 1.0
    # item 1: 2 then 3 and 3.0 (one answer by the grader); the unanswered one does not vote
    assert (out["maj@1"], out["maj@2"], out["maj@3"], out["maj@4"]) == (1.0, 1.0, 0.5, 0.5)
    assert out["se"] == pytest.approx(0.375) and out["no_answer"] == 1
