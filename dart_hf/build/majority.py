"""Gold answers from the samples' majority, for pools without them (`gold: majority`).

A query whose pool row has no answer gets one from the synthesis model's own votes: the final
answers of its vote-phase samples (round 0) are counted the way the gold audit counts them
(`grading.audit.majority_answer`: equal spellings, then answers Math-Verify finds equal, are one
vote), and the largest answer becomes the query's gold when it is a clear majority: at least
`gold_min_votes` votes and more than `gold_min_share` of the samples that gave an answer. A
query without one is left out (stop reason `NO_MAJORITY`) and counted. Such a gold is a model
vote, not a verified answer: a model that is consistently wrong makes a wrong gold.

A sample votes with the answer it states (`anchors.final_anchor`): the distinct final boxes
(`anchors.final_answer_text`, as gold answers are read from MATH solutions), else the value
of its last answer statement ("the answer is 18", `#### 18`, an `Answer:` line, ...). A
response cut at `max_tokens`, an unclosed last box, or one that states no answer (issue 26:
a stray number of an unfinished response is not a vote) does not vote.

Fail rates measured on the samples that voted would be biased: a query's fail rate could never
exceed 1 - its vote share (at most 1 - `gold_min_share`). So the vote phase only sets the gold;
the fail rates are measured on the next round (`FAIL_RATE_ROUND`), `difficulty_samples` more
samples per query graded against the gold. The vote-phase samples are graded against the gold
as well and kept like any other sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

from dart_hf.config import DarsConfig
from dart_hf.dars import State, freeze_difficulty
from dart_hf.grading.anchors import final_anchor, final_answer_text
from dart_hf.grading.audit import GoldAuditConfig, majority_answer

NO_MAJORITY = "no_majority"
"""Stop reason of a query left out because its vote phase found no clear majority."""
VOTE_ROUND = 0
FAIL_RATE_ROUND = 1
VOTE_VERSION = "2"
"""Bump when `vote_batch` output changes."""
TABLE_COLUMNS = ("id", "gold_source", "gold_majority", "gold_majority_votes", "gold_voters")


def response_answer(
    response: str | None, finish_reason: str | None = None, *, timeout: int = 5
) -> str | None:
    """The final answer a response votes for, or None when it does not vote.

    Args:
        response: The response text.
        finish_reason: `length` (cut at max_tokens) and a failed request do not vote.
        timeout: Unused (votes are read from the text alone); kept for callers.
    """
    del timeout
    if not response or finish_reason not in (None, "stop"):  # cut, or no completion
        return None
    anchor = final_anchor(response)
    if anchor is None:
        return None
    if anchor.kind == "boxed":
        return final_answer_text(response)  # None for an unclosed last box
    value = anchor.value.strip() if anchor.value else ""
    return value or None


def vote_batch(batch: dict[str, list], *, timeout: int, version: str = VOTE_VERSION) -> dict[str, list]:
    """Stage: `response` (+ `finish_reason`) -> `vote`, the answer each sample votes for."""
    del version
    reasons = batch.get("finish_reason") or [None] * len(batch["response"])
    return {
        "vote": [
            response_answer(r, f, timeout=timeout) for r, f in zip(batch["response"], reasons, strict=True)
        ]
    }


def majority_golds(
    query_ids: Sequence[str],
    sample_ids: Sequence[str],
    votes: Sequence[str | None],
    config: GoldAuditConfig,
    *,
    timeout: int = 5,
) -> dict[str, list[Any]]:
    """The gold of every query from its samples' votes.

    Returns:
        Columns `TABLE_COLUMNS`, one row per query: `gold_source` `majority` (the answer
        `gold_majority` with `gold_majority_votes` of `gold_voters` votes is a clear majority)
        or None (none: the query is left out; the largest answer and its votes are kept).
    """
    by_query: dict[str, list[str]] = {q: [] for q in query_ids}
    for q, v in zip(sample_ids, votes, strict=True):
        if q in by_query and v:
            by_query[q].append(v)
    out: dict[str, list[Any]] = {c: [] for c in TABLE_COLUMNS}
    for q in query_ids:
        cast = by_query[q]
        answer, n = majority_answer(cast, timeout=timeout)
        clear = answer is not None and n >= config.min_votes and n > config.min_share * len(cast)
        out["id"].append(q)
        out["gold_source"].append("majority" if clear else None)
        out["gold_majority"].append(answer)
        out["gold_majority_votes"].append(n)
        out["gold_voters"].append(len(cast))
    return out


def vote(
    graded: Dataset, query_ids: Sequence[str], config: GoldAuditConfig, *, timeout: int = 5
) -> dict[str, list[Any]]:
    """`majority_golds` of `query_ids` over the samples of `graded` (the vote phase)."""
    table = graded.data.table.select(["id", "response", "finish_reason"])
    if graded._indices is not None:
        table = graded.flatten_indices().data.table.select(["id", "response", "finish_reason"])
    # typed: an empty list (every row has its own gold) would be a null array, not strings
    wanted = pa.array(list(query_ids), type=table.schema.field("id").type)
    table = table.filter(pc.is_in(table["id"], value_set=wanted))
    rows = table.to_pydict()  # the vote phase only: difficulty_samples rows per query
    cast = vote_batch(rows, timeout=timeout)["vote"]
    return majority_golds(query_ids, rows["id"], cast, config, timeout=timeout)


def set_golds_batch(batch: dict[str, list], *, golds: dict[str, str]) -> dict[str, list]:
    """Stage: `answer` / `answers` of the rows whose `id` has a majority gold set to it."""
    answer = [golds.get(q, a) for q, a in zip(batch["id"], batch["answer"], strict=True)]
    out: dict[str, list] = {"answer": answer}
    if "answers" in batch:
        out["answers"] = [
            [golds[q]] if q in golds else a for q, a in zip(batch["id"], batch["answers"], strict=True)
        ]
    return out


def apply_golds(ds: Dataset, golds: dict[str, str]) -> Dataset:
    """`ds` (queries or samples) with the majority golds as their gold answers."""
    if not golds:
        return ds
    return ds.map(
        set_golds_batch,
        batched=True,
        fn_kwargs={"golds": golds},
        features=ds.features,
        keep_in_memory=True,  # no cache files in the build's round folders
        desc="majority golds",
    )


def golds_of(table: dict[str, list[Any]]) -> dict[str, str]:
    """`{query id: gold}` of the queries whose vote found a clear majority."""
    return {
        q: g
        for q, s, g in zip(table["id"], table["gold_source"], table["gold_majority"], strict=True)
        if s == "majority"
    }


def audit_columns(
    audit: dict[str, list[Any]], query_ids: Sequence[str], table: dict[str, list[Any]]
) -> dict[str, list[Any]]:
    """The pool release's gold columns: `gold_source` added to the gold audit's.

    A query with the pool's answer keeps its audit (`gold_source` `answer`); one that voted
    gets its vote (`gold_majority`, `gold_majority_votes`, `gold_voters`) and no
    `gold_status` (its gold is the samples' own answer, so there is nothing to audit).
    """
    voted = {q: i for i, q in enumerate(table["id"])}
    out = {k: list(v) for k, v in audit.items()}
    out["gold_source"] = []
    for j, q in enumerate(query_ids):
        i = voted.get(q)
        if i is None:
            out["gold_source"].append("answer")
            continue
        out["gold_source"].append(table["gold_source"][i])
        out["gold_status"][j] = None
        for c in ("gold_majority", "gold_majority_votes", "gold_voters"):
            out[c][j] = table[c][i]
    return out


def majority_stats(
    query_ids: Sequence[str],
    levels: Sequence[int],
    table: dict[str, list[Any]],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """`stats.json` `gold_majority`: the settings, and queries per gold source and level
    (`answer`, `majority`, and `no_majority`: left out)."""
    source = dict(zip(table["id"], table["gold_source"], strict=True))
    keys = ("answer", "majority", NO_MAJORITY)
    per: dict[str, dict[str, Any]] = {}
    for q, lv in zip(query_ids, levels, strict=True):
        kind = "answer" if q not in source else (source[q] or NO_MAJORITY)
        label = "unknown" if lv is None or lv < 0 else ("L0 (GSM8K)" if lv == 0 else f"L{lv}")
        key = "none" if lv is None or lv < 0 else str(lv)
        row = per.setdefault(key, {"level": key, "label": label, **dict.fromkeys(keys, 0)})
        row[kind] += 1
    rows = [per[k] for k in sorted(per)]
    return {
        **settings,
        "counts": {k: sum(r[k] for r in rows) for k in keys},
        "per_level": rows,
    }


def leave_out(state: State, votes: dict[str, list[Any]]) -> State:
    """The state with the queries whose vote found no clear majority stopped (`NO_MAJORITY`)."""
    left = {q for q, g in zip(votes["id"], votes["gold_source"], strict=True) if g is None}
    mask = np.asarray([q in left for q in state["id"]], dtype=bool)
    out = dict(state)
    out["done"] = state["done"] | mask
    reason = state["stop_reason"].copy()
    reason[mask] = NO_MAJORITY
    out["stop_reason"] = reason
    return out


def freeze_phase(state: State, before: State, config: DarsConfig) -> State:
    """`dars.freeze_difficulty` on the fail-rate phase's samples alone (`state` minus
    `before`): the vote phase's samples made the golds, so their fail rates are biased low."""
    frs = state["samples"] - before["samples"]
    corrects = state["corrects"] - before["corrects"]
    with np.errstate(invalid="ignore", divide="ignore"):
        fr = np.where(frs > 0, 1.0 - corrects / np.maximum(frs, 1), np.nan)
    left = np.asarray(state["stop_reason"], dtype=object) == NO_MAJORITY
    # a left-out query has no fail rate; 0 keeps it out of normalize_fail_rate's maximum
    frozen = freeze_difficulty(state, config, np.where(left, 0.0, fr), frs)
    frozen["fail_rate"] = np.where(left, np.nan, frozen["fail_rate"])
    return frozen
