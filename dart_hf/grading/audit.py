"""Gold audit: per query, is the gold answer readable, and do the samples dispute it?

A query's `gold_status` is

- `unparseable`: the gold is empty or the grader cannot read it (its samples are `bad_gold`);
- `disputed`: no sample agrees with the gold, while a clear majority of the samples that gave
  an answer agree on one other answer: at least `min_votes` of them, and more than
  `min_share` of the voting samples. Samples that are `no_answer`, `hedge`, `truncated`,
  `timeout` or `error` do not vote, nor do samples that state no answer and were read by
  Math-Verify's unanchored extraction (`verdict_source` `unanchored`, issue 26): a stray
  number of an unfinished response is not a vote. A disputed gold is often a wrong gold
  (DART-Math's pools have some), and its query would otherwise look maximally hard and draw
  the most samples;
- `ok`: anything else (some sample agrees with the gold, or no clear majority).

Votes are counted on the grader's extracted answers (`pred`): first grouped by their spelling,
then the largest spellings are merged when Math-Verify says they are equal
(`answers.equivalent`), so `\\frac{1}{2}` and `0.5` are one vote. Only queries without any
correct sample are audited, and only their `MAX_GROUPS` largest spellings are compared, so the
cost stays small for pools of millions of samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dart_hf.errors import DartError
from dart_hf.grading.parse import equivalent
from dart_hf.grading.text import same_text

GOLD_STATUSES = ("ok", "unparseable", "disputed")
#: Statuses whose samples vote (the others gave no single final answer).
VOTING_STATUSES = ("ok",)
#: Verdict sources whose samples do not vote: no answer was stated (`answers.judge`).
NON_VOTING_SOURCES = ("unanchored",)
#: Largest spellings compared pairwise per query.
MAX_GROUPS = 12
#: Bump when a change alters audit output.
AUDIT_VERSION = "2"


@dataclass(frozen=True)
class GoldAuditConfig:
    """Thresholds of the gold audit.

    Attributes:
        min_votes: Least samples that must agree on the other answer.
        min_share: Share of the voting samples the other answer must exceed.
        exclude_disputed: Leave disputed queries out of the releases (they are always counted).
    """

    min_votes: int = 4
    min_share: float = 0.5
    exclude_disputed: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.min_votes, bool) or not isinstance(self.min_votes, int):
            raise DartError(f"gold_min_votes must be an integer, got {self.min_votes!r}")
        if self.min_votes < 1:
            raise DartError(f"gold_min_votes must be >= 1, got {self.min_votes}")
        if not isinstance(self.min_share, int | float) or not 0 <= self.min_share < 1:
            raise DartError(f"gold_min_share must be in [0, 1), got {self.min_share!r}")


@dataclass(frozen=True)
class GoldVerdict:
    """Audit outcome of one query: status, the majority answer and its votes."""

    status: str
    majority: str | None = None
    votes: int = 0
    voters: int = 0


def majority_answer(preds: Sequence[str], *, timeout: int = 5) -> tuple[str | None, int]:
    """The most common answer among `preds` (equal answers merged) and its vote count.

    Ties go to the answer whose first vote came first.
    """
    counts = Counter(p.strip() for p in preds if p and p.strip())
    if not counts:
        return None, 0
    first = {p: i for i, p in reversed(list(enumerate(x.strip() for x in preds if x)))}
    spellings = sorted(counts, key=lambda p: (-counts[p], first[p]))[:MAX_GROUPS]
    groups: list[list[str]] = []
    for p in spellings:
        for g in groups:
            if same_text(g[0], p) or equivalent(g[0], p, timeout=timeout):
                g.append(p)
                break
        else:
            groups.append([p])
    sizes = [(sum(counts[p] for p in g), -first[g[0]], g[0]) for g in groups]
    size, _, answer = max(sizes)
    return answer, size


def audit_query(
    preds: Sequence[str | None],
    correct: Sequence[bool | None],
    statuses: Sequence[str],
    config: GoldAuditConfig,
    *,
    timeout: int = 5,
    sources: Sequence[str | None] | None = None,
) -> GoldVerdict:
    """Gold status of one query from its graded samples (`sources`: their `verdict_source`;
    a sample read by the unanchored extraction does not vote)."""
    if not statuses or all(s == "bad_gold" for s in statuses):
        return GoldVerdict("unparseable" if statuses else "ok")
    if any(c is True for c in correct):
        return GoldVerdict("ok")
    kinds = sources if sources is not None else [None] * len(statuses)
    votes = [
        p
        for p, s, k in zip(preds, statuses, kinds, strict=True)
        if s in VOTING_STATUSES and k not in NON_VOTING_SOURCES and p
    ]
    answer, n = majority_answer([v for v in votes if v is not None], timeout=timeout)
    if answer is not None and n >= config.min_votes and n > config.min_share * len(votes):
        return GoldVerdict("disputed", answer, n, len(votes))
    return GoldVerdict("ok", answer, n, len(votes))


def audit_pool(
    query_ids: Sequence[str],
    sample_ids: Sequence[str],
    preds: Sequence[str | None],
    correct: Sequence[bool | None],
    statuses: Sequence[str],
    config: GoldAuditConfig,
    *,
    timeout: int = 5,
    sources: Sequence[str | None] | None = None,
) -> dict[str, list[Any]]:
    """Audit every query of a graded pool.

    Args:
        query_ids: The queries, in the order of the returned columns.
        sample_ids: Query id of each graded sample.
        preds, correct, statuses: The grader's columns of each sample.
        config: Thresholds.
        sources: The grader's `verdict_source` of each sample (None: every sample may vote).
        timeout: Math-Verify's timeout when answers are compared.

    Returns:
        Columns `gold_status`, `gold_majority`, `gold_majority_votes`, `gold_voters`, one row
        per query (a query without samples is `ok` with no votes).
    """
    by_query: dict[str, list[int]] = {}
    for i, q in enumerate(sample_ids):
        by_query.setdefault(q, []).append(i)
    out: dict[str, list[Any]] = {
        "gold_status": [],
        "gold_majority": [],
        "gold_majority_votes": [],
        "gold_voters": [],
    }
    for q in query_ids:
        idx = by_query.get(q, [])
        v = audit_query(
            [preds[i] for i in idx],
            [correct[i] for i in idx],
            [statuses[i] for i in idx],
            config,
            timeout=timeout,
            sources=None if sources is None else [sources[i] for i in idx],
        )
        out["gold_status"].append(v.status)
        out["gold_majority"].append(v.majority if v.status == "disputed" else None)
        out["gold_majority_votes"].append(v.votes)
        out["gold_voters"].append(v.voters)
    return out


def counts_by_level(statuses: Sequence[str], levels: Sequence[int | None]) -> dict[str, dict[str, int]]:
    """`{level: {gold_status: queries}}` for the statistics and cards (level "none" if unknown)."""
    out: dict[str, dict[str, int]] = {}
    for s, lv in zip(statuses, levels, strict=True):
        row = out.setdefault("none" if lv is None or lv < 0 else str(lv), dict.fromkeys(GOLD_STATUSES, 0))
        row[s] += 1
    return dict(sorted(out.items()))
