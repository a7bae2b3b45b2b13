"""pass@k, maj@k and standard errors (`dart_hf.evaluation.passk`) against enumeration and hand
sums."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from dart_hf.evaluation.passk import (
    Sample,
    grader_equal,
    item_table,
    majority_correct,
    pass_at_k,
    standard_error,
    vote_keys,
)


def _brute_pass(n: int, c: int, k: int) -> Fraction:
    """Share of the k-subsets of n samples (the first c correct) holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(1 for s in subsets if min(s) < c), len(subsets))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_brute_force_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(_brute_pass(n, c, k)), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    for n, c, k in [(1000, 1, 1), (1000, 3, 10), (2000, 1999, 5), (500, 0, 500), (400, 7, 200)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-9, abs=1e-12)
    assert pass_at_k(10, 10, 3) == 1.0 and pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 8, 3) == 1.0  # fewer than k wrong samples: always a hit


def test_pass_at_k_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(4, 5, 1)


def _s(status: str, correct: bool | None, pred: str | None = None) -> Sample:
    return Sample(correct, status, pred)


def test_majority_ties_go_to_the_answer_voted_first() -> None:
    gold_first = [0, 1, 1, 0]
    assert majority_correct(gold_first, 1) and majority_correct(gold_first, 2)  # 1-1: gold first
    assert not majority_correct(gold_first, 3)  # 1 against 2
    assert majority_correct(gold_first, 4)  # 2-2: gold voted first
    wrong_first = [1, 0, 0, 1]
    assert not majority_correct(wrong_first, 2) and majority_correct(wrong_first, 3)
    assert not majority_correct(wrong_first, 4)  # 2-2: the wrong answer voted first
    # a three-way tie: the earliest of the tied answers, not the most recent
    assert not majority_correct([2, 1, 0], 3) and majority_correct([0, 2, 1], 3)
    assert not majority_correct([None, None], 2)  # no vote: wrong


def test_no_answer_truncated_hedge_timeout_and_error_do_not_vote() -> None:
    samples = [
        _s("no_answer", False),
        _s("truncated", False, "5"),
        _s("hedge", False, "5 ; 6"),
        _s("timeout", False, "5"),
        _s("error", False, "5"),
        _s("ok", True, "4"),
        _s("ok", False, "5"),
    ]
    keys = vote_keys(samples)
    assert keys == [None, None, None, None, None, 0, 1]
    assert not majority_correct(keys, 5)  # nobody voted yet
    assert majority_correct(keys, 6) and majority_correct(keys, 7)  # 1-1, gold voted first
    # had the truncated `5`s voted, 5 would have won
    table = item_table([samples])
    assert table["maj@k"][7] == 1.0 and table["pass@k"][1] == pytest.approx(1 / 7)


def test_wrong_answers_are_one_vote_when_the_grader_says_so() -> None:
    samples = [
        _s("ok", True, "3"),
        _s("ok", False, "\\frac{1}{2}"),
        _s("ok", False, "0.5"),
        _s("ok", False, "$\\dfrac{1}{2}$"),
        _s("ok", False, "7"),
    ]
    # by text, 1/2 and 0.5 differ; $\\dfrac{1}{2}$ is \\frac{1}{2} written again
    assert vote_keys(samples) == [0, 1, 2, 1, 3]
    equal = grader_equal("math")
    assert vote_keys(samples, equal) == [0, 1, 1, 1, 2]
    assert majority_correct(vote_keys(samples), 3)  # three answers once each: gold voted first
    assert not majority_correct(vote_keys(samples, equal), 3)  # 1/2 twice against gold once
    assert item_table([samples], equal)["maj@k"] == {1: 1.0, 2: 1.0, 3: 0.0, 4: 0.0, 5: 0.0}


def test_standard_error_on_a_table_computed_by_hand() -> None:
    # per-item means 1, 1/2, 0, 1/4: mean 7/16, squared deviations sum 35/64, sd sqrt(35/192)
    items = [
        [_s("ok", True)] * 4,
        [_s("ok", True), _s("ok", False, "1"), _s("ok", True), _s("ok", False, "1")],
        [_s("no_answer", False)] * 4,
        [_s("ok", False, "2"), _s("truncated", False), _s("ok", True), _s("ok", False, "3")],
    ]
    table = item_table(items)
    assert table["items"] == 4 and table["n"] == 4
    assert table["accuracy"] == pytest.approx(7 / 16) == table["pass@k"][1]
    assert table["se"] == pytest.approx(math.sqrt(35 / 192) / 2)
    assert table["se"] == pytest.approx(0.2134781, abs=1e-7)
    assert standard_error([1.0]) is None and standard_error([0.0, 1.0]) == pytest.approx(0.5)
    # pass@4: items with a correct sample; maj@4: item 2 ties 2-2 with gold first, item 4
    # has three distinct answers once each: 2 (voted first) wins
    assert table["pass@k"][4] == pytest.approx(3 / 4)
    assert table["maj@k"][4] == pytest.approx(2 / 4)
    assert table["pass@k"][2] == pytest.approx((1 + (1 - 1 / 6) + 0 + (1 - 3 / 6)) / 4)


def test_items_with_an_unreadable_gold_are_left_out() -> None:
    items = [[_s("ok", True), _s("ok", False, "1")], [_s("bad_gold", None), _s("bad_gold", None)]]
    table = item_table(items)
    assert (table["items"], table["bad_gold"], table["accuracy"]) == (1, 1, 0.5)
    empty = item_table([items[1]])
    assert empty["accuracy"] is None and empty["pass@k"] == {} and empty["bad_gold"] == 1


def test_the_grader_is_asked_only_where_it_can_change_maj_at_k() -> None:
    import random

    from dart_hf.evaluation.passk import majority_by_k

    calls = []

    def equal(a: str, b: str) -> bool:  # "1", "1.0", "1.00" are one answer
        calls.append((a, b))
        return float(a) == float(b)

    rng = random.Random(0)
    statuses = ["ok"] * 6 + ["no_answer", "truncated", "hedge"]
    for _ in range(400):
        samples = []
        for _ in range(rng.randrange(1, 9)):
            status = rng.choice(statuses)
            correct = status == "ok" and rng.random() < 0.4
            pred = rng.choice(["1", "1.0", "1.00", "2", "2.0", "3"])
            samples.append(_s(status, correct, "0" if correct else pred))
        keys = vote_keys(samples, equal)
        full = [majority_correct(keys, k) for k in range(1, len(samples) + 1)]
        assert majority_by_k(samples, equal) == full, samples
    calls.clear()
    dominated = [_s("ok", True, "0")] * 3 + [_s("ok", False, "1"), _s("ok", False, "1.0")]
    assert majority_by_k(dominated, equal) == [True] * 5 and calls == []  # 3 golds beat 2
    lost = [_s("ok", False, "1"), _s("ok", False, "1"), _s("ok", True, "0"), _s("ok", False, "2")]
    assert majority_by_k(lost, equal) == [False] * 4 and calls == []  # loses by text already
    close = [_s("ok", True, "0"), _s("ok", False, "1"), _s("ok", False, "1.0")]
    assert majority_by_k(close, equal) == [True, True, False] and calls  # needs the grader
