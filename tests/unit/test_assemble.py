"""Assembly: correct-only, quality filters, dedup, decontamination, first-t selection."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, concatenate_datasets

from dart_hf.build import assemble

RELEASED = ["query", "response", "id", "source", "level", "domain", "fail_rate"]
"""The columns of a released set, written out (the release schema declares the same)."""


def _pool(rows: list[tuple[str, int, int, str, bool]]) -> Dataset:
    """rows: (id, round, sample_idx, response, correct)."""
    return Dataset.from_dict(
        {
            "id": [r[0] for r in rows],
            "source": ["gsm8k"] * len(rows),
            "query": [f"question {r[0]}" for r in rows],
            "answer": ["4"] * len(rows),
            "level": [0] * len(rows),
            "domain": [None] * len(rows),
            "round": [r[1] for r in rows],
            "sample_idx": [r[2] for r in rows],
            "response": [r[3] for r in rows],
            "correct": [r[4] for r in rows],
            "pred": ["4" if r[4] else "5" for r in rows],
        }
    )


def test_filters_flag_each_reason() -> None:
    batch = {
        "response": [
            "2+2 = \\boxed{4}",
            "so \\boxed{4}",
            "maybe \\boxed{5} or \\boxed{4}",
            "x " * 10 + "a b c d e f g h " * 6 + "\\boxed{4}",
            "hence \\boxed{４}",
            "again \\boxed{4} which is \\boxed{ 4 }",
        ],
        "correct": [True, False, True, True, True, True],
        "pred": ["4", "4", "4", "4", "4", "4"],
    }
    out = assemble.flag_batch(batch, filters=tuple(assemble.FILTERS))
    assert out["drop_reason"] == [
        None,
        "incorrect",
        "multiple_boxed",
        "repetition",
        "non_ascii_answer",
        None,
    ]
    assert len(set(out["response_hash"])) == 6


def test_boxed_answers_nested() -> None:
    assert assemble.boxed_answers("\\boxed{\\frac{1}{2}} and \\fbox{3}") == ["\\frac{1}{2}", "3"]


def test_first_t_dedup_and_counts() -> None:
    rows = [
        # q1: 5 correct, one duplicate, one multiple-boxed, one wrong
        ("q1", 1, 7, "late \\boxed{4}", True),
        ("q1", 0, 0, "first \\boxed{4}", True),
        ("q1", 0, 1, "first \\boxed{4}", True),  # duplicate of sample 0
        ("q1", 0, 2, "wrong \\boxed{5}", False),
        ("q1", 0, 3, "two \\boxed{3} \\boxed{4}", True),
        ("q1", 1, 4, "second \\boxed{4}", True),
        ("q1", 1, 5, "third \\boxed{4}", True),
        # q2: one unique correct
        ("q2", 0, 0, "only \\boxed{4}", True),
        ("q2", 0, 1, "only \\boxed{4}", True),
        # q3: nothing correct
        ("q3", 0, 0, "no \\boxed{5}", False),
    ]
    random.Random(0).shuffle(rows)
    pool = _pool(rows)
    ids = ["q1", "q2", "q3"]
    sel = assemble.select(pool, ids)
    assert sel.filters == {
        "incorrect": 2,
        "failed": 0,
        "multiple_boxed": 1,
        "repetition": 0,
        "non_ascii_answer": 0,
        "duplicate": 2,
    }
    targets = np.array([3, 3, 3])
    mask = sel.first_t(targets)
    kept = sel.kept_per_query(mask, 3)
    # released rows per query = min(t, unique correct after filters)
    assert kept.tolist() == [min(3, 4), min(3, 1), 0]
    rel = assemble.release(pool, sel.order[mask], {"q1": 0.2, "q2": 0.5, "q3": 1.0}, columns=RELEASED)
    assert rel.column_names == RELEASED
    assert rel["response"] == [
        "first \\boxed{4}",
        "second \\boxed{4}",
        "third \\boxed{4}",
        "only \\boxed{4}",
    ]
    assert rel["fail_rate"] == [0.2, 0.2, 0.2, 0.5]
    # VRT: all surviving correct among the first N raw samples.
    vrt = sel.first_samples(5)
    assert sel.kept_per_query(vrt, 3).tolist() == [2, 1, 0]


def test_decontaminated_queries_are_dropped() -> None:
    pool = _pool([("q1", 0, 0, "a \\boxed{4}", True), ("q2", 0, 0, "b \\boxed{4}", True)])
    sel = assemble.select(pool, ["q1", "q2"], excluded=np.array([False, True]))
    assert sel.kept_per_query(sel.first_t(np.array([5, 5])), 2).tolist() == [1, 0]
    assert sel.decontaminated_rows == 1


def test_drop_reason_names_why_each_sample_is_in_no_release() -> None:
    # pool order deliberately not (query, round, sample_idx): the duplicate is the later copy
    rows = [
        ("q1", 1, 4, "then \\boxed{4}", True),  # a copy of q1's round-0 response: duplicate
        ("q1", 0, 0, "then \\boxed{4}", True),  # released
        ("q1", 0, 1, "wrong \\boxed{5}", False),
        ("q1", 0, 2, "maybe \\boxed{5} or \\boxed{4}", True),
        ("q2", 0, 0, "so \\boxed{4}", True),  # its query is decontaminated
        ("q2", 0, 1, "oops \\boxed{7}", False),
        ("q1", 1, 3, "also \\boxed{4}", True),  # correct, clean: may be released
    ]
    sel = assemble.select(_pool(rows), ["q1", "q2"], excluded=np.array([False, True]))
    assert sel.drop_reason().to_pylist() == [
        "duplicate",
        None,
        "incorrect",
        "multiple_boxed",
        "decontaminated",
        "incorrect",
        None,
    ]
    assert sel.filters["duplicate"] == 1 and sel.decontaminated_rows == 1
    assert set(assemble.ROW_DROP_REASONS) == {
        "incorrect",
        "failed",
        "multiple_boxed",
        "repetition",
        "non_ascii_answer",
        "duplicate",
        "decontaminated",
    }


def test_contaminated_ngrams() -> None:
    bench = ["A train travels 270 miles in 3 hours. At the same rate, how many more hours?"]
    queries = [
        "A train travels 270 miles in 3 hours! At the same rate, how many more hours are needed?",
        "A car travels 270 miles in 3 hours.",
        "Express your answer as a common fraction.",
    ]
    assert assemble.contaminated(queries, bench, 13).tolist() == [True, False, False]
    assert assemble.contaminated(["Short one"], ["short ONE"], 13).tolist() == [True]


def test_release_fingerprint_tracks_selection() -> None:
    rows = [(f"q{i % 3}", 0, i, f"r{i} \\boxed{{4}}", True) for i in range(12)]
    pool = _pool(rows)
    ids = ["q0", "q1", "q2"]
    fr = dict.fromkeys(ids, 0.5)
    a = assemble.release(pool, assemble.select(pool, ids).order[:6], fr, columns=RELEASED)
    b = assemble.release(pool, assemble.select(pool, ids).order[:6], fr, columns=RELEASED)
    c = assemble.release(pool, assemble.select(pool, ids).order[:9], fr, columns=RELEASED)
    assert a._fingerprint == b._fingerprint
    assert a._fingerprint != c._fingerprint


@pytest.mark.parametrize("text", ["", "plain text, no box"])
def test_no_boxed_answer_is_not_flagged(text: str) -> None:
    out = assemble.flag_batch(
        {"response": [text], "correct": [True], "pred": ["4"]}, filters=tuple(assemble.FILTERS)
    )
    assert out["drop_reason"] == [None]


def test_release_streams_a_file_backed_pool_like_the_in_memory_path(tmp_path: Path) -> None:
    """Two round files, rows released out of pool order: same rows, order and features as
    `select` + `map`, written once as a cache file next to the pool and reused."""
    from dart_hf.arrow_io import write_arrow

    rng = np.random.default_rng(0)
    rows = [
        (f"q{i % 7}", r, i, f"r{r}-{i} " + "x" * int(rng.integers(0, 50)) + " \\boxed{4}", True)
        for r in range(2)
        for i in range(2500)
    ]
    memory = _pool(rows)
    parts = []
    for r in range(2):
        path = tmp_path / f"round-{r}" / "graded.arrow"
        path.parent.mkdir()
        write_arrow(memory.filter(lambda x, r=r: x["round"] == r), path, batch_rows=300)
        parts.append(Dataset.from_file(str(path)))
    files = concatenate_datasets(parts)
    ids = [f"q{i}" for i in range(7)]
    fr = {q: (None if q == "q3" else i / 10) for i, q in enumerate(ids)}
    sel = assemble.select(files, ids)
    picked = sel.order[sel.first_t(np.full(7, 900))]
    assert (np.diff(picked) < 0).any()  # release order is not pool order
    streamed = assemble.release(files, picked, fr, columns=RELEASED)
    expected = assemble.release(memory, picked, fr, columns=RELEASED)
    assert streamed.features == expected.features
    assert streamed.to_dict() == expected.to_dict()
    cached = sorted((tmp_path / "round-0").glob("release-*.arrow"))
    assert [Path(f["filename"]) for f in streamed.cache_files] == cached
    assert not list(tmp_path.rglob("*.tmp"))
    mtime = cached[0].stat().st_mtime_ns
    again = assemble.release(files, picked, fr, columns=RELEASED)
    assert again.to_dict() == expected.to_dict() and cached[0].stat().st_mtime_ns == mtime
    empty = assemble.release(files, picked[:0], fr, columns=RELEASED)
    assert len(empty) == 0 and empty.features == expected.features
