"""Gold audit: unparseable and disputed golds, votes merged by Math-Verify, thresholds."""

from __future__ import annotations

import pytest

from dart_hf.errors import DartError
from dart_hf.grading.audit import (
    GoldAuditConfig,
    audit_pool,
    audit_query,
    counts_by_level,
    majority_answer,
)

CFG = GoldAuditConfig(min_votes=4, min_share=0.5)


def test_equal_answers_are_one_vote_and_ties_go_to_the_first() -> None:
    assert majority_answer([r"\frac{1}{2}", "0.5", "1/2", "3", "3"]) == (r"\frac{1}{2}", 3)
    assert majority_answer(["7", "8", "8", "7"]) == ("7", 2)
    assert majority_answer([]) == (None, 0)


def test_disputed_needs_no_agreement_and_a_clear_majority() -> None:
    # A wrong gold: 5 of 6 answering samples say 12, none says the gold.
    preds = ["12", "12", "12", "12.0", "12", "7", None, None]
    correct = [False] * 8
    statuses = ["ok"] * 6 + ["no_answer", "truncated"]
    v = audit_query(preds, correct, statuses, CFG)
    assert (v.status, v.majority, v.votes, v.voters) == ("disputed", "12", 5, 6)
    # One correct sample: the gold is not disputed, whatever the others say.
    assert audit_query(preds, [True] + correct[1:], statuses, CFG).status == "ok"


@pytest.mark.parametrize(
    ("preds", "why"),
    [
        (["12", "12", "12", "5", "6", "7", "8"], "3 votes < min_votes 4"),
        (["12"] * 4 + ["5", "6", "7", "8"], "4 of 8 is not more than half"),
        (["1", "2", "3", "4", "5", "6"], "no majority at all"),
    ],
)
def test_no_clear_majority_is_ok(preds: list[str], why: str) -> None:
    v = audit_query(preds, [False] * len(preds), ["ok"] * len(preds), CFG)
    assert v.status == "ok", why


def test_hedges_and_cut_answers_do_not_vote() -> None:
    preds = ["9 ; 12"] * 6 + ["12"] * 2
    statuses = ["hedge"] * 6 + ["ok"] * 2
    v = audit_query(preds, [False] * 8, statuses, CFG)
    assert (v.status, v.voters) == ("ok", 2)


def test_unanchored_answers_do_not_vote() -> None:
    """A stray number of a response that states no answer (issue 26) is not a vote."""
    preds = ["12"] * 6 + ["9"] * 2
    sources = ["unanchored"] * 6 + ["answer_phrase"] * 2
    v = audit_query(preds, [False] * 8, ["ok"] * 8, CFG, sources=sources)
    assert (v.status, v.voters) == ("ok", 2)
    assert audit_query(preds, [False] * 8, ["ok"] * 8, CFG).status == "disputed"


def test_unparseable_gold() -> None:
    assert audit_query(["5"], [None], ["bad_gold"], CFG).status == "unparseable"


def test_pool_columns_and_level_counts() -> None:
    out = audit_pool(
        ["a", "b", "c"],
        ["a"] * 5 + ["b"] * 2 + ["c"],
        ["4", "4", "4", "4", "4", "1", "2", "x"],
        [False] * 5 + [True, False, None],
        ["ok"] * 7 + ["bad_gold"],
        CFG,
    )
    assert out["gold_status"] == ["disputed", "ok", "unparseable"]
    assert out["gold_majority"] == ["4", None, None]
    assert out["gold_majority_votes"][0] == 5
    assert counts_by_level(out["gold_status"], [5, 5, None]) == {
        "5": {"ok": 1, "unparseable": 0, "disputed": 1},
        "none": {"ok": 0, "unparseable": 1, "disputed": 0},
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_votes": 0}, "gold_min_votes must be >= 1"), ({"min_share": 1.5}, "gold_min_share")],
)
def test_thresholds_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(DartError, match=message):
        GoldAuditConfig(**kwargs)
