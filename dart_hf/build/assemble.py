"""Assembly: from a graded pool of raw samples to the released datasets.

Steps, each counted:
1. correct only (`incorrect` covers wrong, ungradable and truncated samples);
2. cheap quality filters against answer-right-reasoning-wrong responses (`FILTERS`:
   several different boxed answers, repetition loops, a non-ASCII final answer);
3. exact duplicate responses per query dropped (`duplicate`; the earliest copy stays);
4. decontamination: queries sharing a word n-gram with a benchmark test question are dropped;
5. the first t responses per query by (round, sample_idx), t from the strategy.

Only the per-row flags are computed in Python (a batched `Dataset.map` that returns just the
new columns); selection runs on Arrow/numpy columns of ids, rounds, sample indices and
response hashes, and the released rows are streamed out of the pool's Arrow files batch by
batch, so assembling never holds the pool as Python objects or maps all of its pages.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Features, Value

from dart_hf.arrow_io import file_batches, mapped_files
from dart_hf.errors import DartError
from dart_hf.grading.anchors import boxed_answers, last_boxed

# Bump when the flags below change, so cached maps are recomputed.
ASSEMBLE_VERSION = "2"
REPEAT_NGRAM = 8
REPEAT_MIN_COUNT = 5
_WORD = re.compile(r"[a-z0-9]+")


def multiple_boxed(response: str, pred: str | None) -> bool:
    """Several different boxed answers in one response."""
    return len({re.sub(r"\s+", "", b) for b in boxed_answers(response)}) > 1


def repetition(response: str, pred: str | None) -> bool:
    """A repetition loop: some word 8-gram occurs at least 5 times."""
    words = response.split()
    if len(words) < REPEAT_NGRAM * REPEAT_MIN_COUNT:
        return False
    grams = Counter(tuple(words[i : i + REPEAT_NGRAM]) for i in range(len(words) - REPEAT_NGRAM))
    return grams.most_common(1)[0][1] >= REPEAT_MIN_COUNT


def non_ascii_answer(response: str, pred: str | None) -> bool:
    """The final answer (last boxed, else the grader's prediction) has non-ASCII characters."""
    answer = last_boxed(response) or pred or ""
    return not answer.isascii()


# name -> predicate over (response, pred); a True drops the row with that reason.
FILTERS: dict[str, Callable[[str, str | None], bool]] = {
    "multiple_boxed": multiple_boxed,
    "repetition": repetition,
    "non_ascii_answer": non_ascii_answer,
}
DROP_REASONS = ("incorrect", "failed", *FILTERS, "duplicate")
#: Every value of the pool release's `drop_reason` column (null: the sample may be released;
#: whether a release takes it depends on the strategy's target).
ROW_DROP_REASONS = (*DROP_REASONS, "decontaminated")


def flag_batch(
    batch: dict[str, list[Any]], *, filters: tuple[str, ...], version: str = ASSEMBLE_VERSION
) -> dict[str, list[Any]]:
    """Stage: per row `drop_reason` (None keeps it) and `response_hash` (64-bit).

    Args:
        batch: Columns `response`, `correct` and optionally `pred`, `grade_status` (a
            `failed` request, no completion, is dropped as `failed`).
        filters: Names of `FILTERS` to apply, in order (first match names the reason).
        version: Stage version (part of the cache fingerprint).
    """
    responses = batch["response"]
    preds = batch.get("pred") or [None] * len(responses)
    statuses = batch.get("grade_status") or [None] * len(responses)
    reasons: list[str | None] = []
    hashes: list[int] = []
    for response, correct, pred, status in zip(responses, batch["correct"], preds, statuses, strict=True):
        text = response or ""
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        hashes.append(int.from_bytes(digest, "big", signed=True))
        if status == "failed":
            reasons.append("failed")
            continue
        if not correct:
            reasons.append("incorrect")
            continue
        reasons.append(next((f for f in filters if FILTERS[f](text, pred)), None))
    return {"drop_reason": reasons, "response_hash": hashes}


def ngrams(text: str, n: int) -> set[int]:
    """Hashes of the word n-grams of a normalised text (the text itself when shorter)."""
    words = _WORD.findall(text.lower())
    grams = [" ".join(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))]
    return {
        int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big", signed=True)
        for g in grams
        if g
    }


def contaminated(queries: Sequence[str], references: Iterable[str], n: int) -> np.ndarray:
    """Boolean mask: which queries share a word n-gram with any reference question."""
    ref = np.unique(np.fromiter((h for q in references for h in ngrams(q, n)), dtype=np.int64))
    out = np.zeros(len(queries), dtype=bool)
    for i, q in enumerate(queries):
        grams = np.fromiter(ngrams(q, n), dtype=np.int64)
        out[i] = bool(len(grams)) and bool(np.isin(grams, ref, assume_unique=True).any())
    return out


@dataclass
class Selection:
    """Row indices of every release and the counts behind them.

    Attributes:
        order: Pool row indices passing every filter, sorted by (query, round, sample_idx).
        qidx: State row of each entry of `order`.
        rank: 0-based rank of each entry among its query's surviving rows.
        sample_idx: `sample_idx` of each entry of `order`.
        filters: Rows dropped per reason (over all queries, decontaminated ones excluded).
        decontaminated_rows: Correct, filtered rows of decontaminated queries.
        drop_codes: Per pool row, the index of its reason in `ROW_DROP_REASONS` (-1: none).
    """

    order: np.ndarray
    qidx: np.ndarray
    rank: np.ndarray
    sample_idx: np.ndarray
    filters: dict[str, int] = field(default_factory=dict)
    decontaminated_rows: int = 0
    drop_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))

    def drop_reason(self) -> pa.Array:
        """The pool's `drop_reason` column: why each sample can be in no release (null: it
        can; whether a release takes it depends on the strategy's target)."""
        codes = self.drop_codes
        indices = pa.array(codes, type=pa.int8(), mask=codes < 0)
        return pa.DictionaryArray.from_arrays(indices, pa.array(ROW_DROP_REASONS)).cast(pa.string())

    def first_t(self, targets: np.ndarray) -> np.ndarray:
        """Mask over `order`: the first `targets[q]` responses of every query q."""
        return self.rank < targets[self.qidx]

    def first_samples(self, n: int | np.ndarray) -> np.ndarray:
        """Mask over `order`: surviving responses among each query's first n raw samples
        (`n` one count, or one per query in state order)."""
        if np.ndim(n) == 0:
            return self.sample_idx < n
        return self.sample_idx < np.asarray(n)[self.qidx]

    def kept_per_query(self, mask: np.ndarray, n_queries: int) -> np.ndarray:
        """Kept responses per state row under a mask over `order`."""
        return np.bincount(self.qidx[mask], minlength=n_queries)


def _column(ds: Dataset, name: str) -> pa.ChunkedArray:
    return ds.data.table.column(name)


@dataclass
class _Survivors:
    """Rows that pass the correctness and quality filters, from one streamed scan of the pool."""

    rows: np.ndarray  # pool row index
    qidx: np.ndarray  # position of the row's query in the state
    rounds: np.ndarray
    sample_idx: np.ndarray
    hashes: np.ndarray  # 64-bit hash of the response
    dropped: dict[str, int]  # rows dropped per reason (duplicates are counted later)
    codes: np.ndarray  # per pool row: index into ROW_DROP_REASONS, -1 where it survives


def _scan_pool(pool: Dataset, state_ids: Sequence[str], filters: tuple[str, ...]) -> _Survivors:
    """`flag_batch` over the whole pool, streamed, keeping a few numbers per surviving row."""
    position = {q: i for i, q in enumerate(state_ids)}
    dropped = dict.fromkeys(DROP_REASONS, 0)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("rows", "qidx", "rounds", "sidx", "h", "codes")}
    code_of = {r: i for i, r in enumerate(ROW_DROP_REASONS)}
    start = 0
    for batch in file_batches(pool):
        cols = {
            c: batch.column(c).to_pylist()
            for c in ("response", "correct", "pred", "grade_status")
            if c in batch.schema.names
        }
        out = flag_batch(cols, filters=filters)
        for reason, k in Counter(r for r in out["drop_reason"] if r is not None).items():
            dropped[reason] += k
        keep = np.asarray([r is None for r in out["drop_reason"]], dtype=bool)
        parts["codes"].append(
            np.asarray([-1 if r is None else code_of[r] for r in out["drop_reason"]], np.int8)
        )
        encoded = pc.dictionary_encode(batch.column("id"))
        names = encoded.dictionary.to_pylist()
        unknown = [q for q in names if q not in position]
        if unknown:
            raise DartError(f"graded pool has samples of unknown queries (e.g. id {unknown[0]!r})")
        lookup = np.asarray([position[q] for q in names], dtype=np.int64)
        parts["rows"].append(start + np.flatnonzero(keep))
        parts["qidx"].append(lookup[encoded.indices.to_numpy(zero_copy_only=False)][keep])
        for key, column in (("rounds", "round"), ("sidx", "sample_idx")):
            values = batch.column(column).to_numpy(zero_copy_only=False).astype(np.int64)
            parts[key].append(values[keep])
        parts["h"].append(np.asarray(out["response_hash"], dtype=np.int64)[keep])
        start += batch.num_rows
    joined = {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in parts.items()}
    return _Survivors(
        rows=joined["rows"],
        qidx=joined["qidx"],
        rounds=joined["rounds"],
        sample_idx=joined["sidx"],
        hashes=joined["h"],
        dropped=dropped,
        codes=joined["codes"].astype(np.int8),
    )


_WRITE_ROWS = 1000
"""Rows per record batch of a release cache file (datasets' default writer batch size)."""

# Bits of the packed (query, round, sample_idx) sort key.
_ROUND_BITS, _SAMPLE_BITS = 16, 24


def select(
    pool: Dataset,
    state_ids: Sequence[str],
    *,
    filters: tuple[str, ...] = tuple(FILTERS),
    excluded: np.ndarray | None = None,
) -> Selection:
    """Flag, deduplicate and order the graded pool.

    Memory stays a few numpy columns of the surviving rows: the pool is read batch by batch
    with plain reads (no page of it stays mapped), and (query, round, sample_idx) is packed
    into one int64 key.

    Args:
        pool: Graded raw samples (`id`, `round`, `sample_idx`, `response`, `correct`, `pred`).
        state_ids: Query ids in state order (every pool id must be among them).
        filters: Quality filters to apply.
        excluded: Boolean mask over `state_ids` of decontaminated queries.
    """
    if pool._indices is not None:
        pool = pool.flatten_indices()
    scan = _scan_pool(pool, state_ids, filters)
    counts = scan.dropped
    codes = scan.codes
    idx, qidx, rounds, sidx, hashes = (
        scan.rows,
        scan.qidx,
        scan.rounds,
        scan.sample_idx,
        scan.hashes,
    )
    del scan
    if len(idx) and (rounds.max() >= 1 << _ROUND_BITS or sidx.max() >= 1 << _SAMPLE_BITS):
        raise DartError("rounds or sample indices too large to order")  # pragma: no cover
    key = (qidx << (_ROUND_BITS + _SAMPLE_BITS)) | (rounds << _SAMPLE_BITS) | sidx
    del rounds
    perm = np.argsort(key, kind="stable")
    idx, qidx, sidx, hashes = idx[perm], qidx[perm], sidx[perm], hashes[perm]
    del key, perm
    # Duplicates: the first copy of (query, response hash) in (round, sample_idx) order.
    mixed = hashes ^ (qidx * np.int64(-7046029254386353131))  # 64-bit mix, wraps
    first = np.zeros(len(idx), dtype=bool)
    first[np.unique(mixed, return_index=True)[1]] = True
    del mixed, hashes
    counts["duplicate"] = int(len(idx) - first.sum())
    bad = np.zeros(len(state_ids), dtype=bool) if excluded is None else excluded
    row_bad = bad[qidx]
    decon_rows = int((first & row_bad).sum())
    codes[idx[~first]] = ROW_DROP_REASONS.index("duplicate")
    codes[idx[first & row_bad]] = ROW_DROP_REASONS.index("decontaminated")
    keep = first & ~row_bad
    order, q, sidx = idx[keep], qidx[keep], sidx[keep]
    starts = np.r_[0, np.flatnonzero(q[1:] != q[:-1]) + 1] if len(q) else np.zeros(0, int)
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(q)])) if len(q) else starts
    rank = np.arange(len(q)) - group_start
    return Selection(
        order=order,
        qidx=q,
        rank=rank,
        sample_idx=sidx,
        filters=counts,
        decontaminated_rows=decon_rows,
        drop_codes=codes,
    )


def release(
    pool: Dataset,
    rows: np.ndarray,
    fail_rate: dict[str, float | None],
    *,
    columns: Sequence[str],
) -> Dataset:
    """The released dataset: the pool's `columns` (`schema.names(schema.RELEASE)`), in that
    order, where `fail_rate` is the query's frozen fail rate.

    A pool read from Arrow files (the build's) is streamed with plain reads: the released rows
    are taken batch by batch into a cache file next to the pool (`release-<hash>.arrow`, reused
    when the same release is asked again), then put in release order. Only pages of the
    release, never of the whole pool, are mapped. An in-memory pool gets a `select` + `map`.

    Args:
        pool: The graded pool.
        rows: Pool row indices in release order.
        fail_rate: Frozen fail rate per query id.
        columns: The released columns, in order (the release schema's).
    """
    rows = np.asarray(rows, dtype=np.int64)
    files = mapped_files(pool)
    if files is None:
        view = pool.select(rows).select_columns([c for c in columns if c != "fail_rate"])
        view = view.map(
            _add_fail_rate,
            batched=True,
            input_columns=["id"],
            fn_kwargs={"fail_rate": fail_rate},
            desc="release",
        )
        return view.select_columns(list(columns))
    digest = hashlib.sha1(ASSEMBLE_VERSION.encode())
    digest.update(repr(list(columns)).encode())
    digest.update(str(pool._fingerprint).encode())
    digest.update(rows.tobytes())
    digest.update(repr(sorted(fail_rate.items(), key=lambda kv: kv[0])).encode())
    final = Path(files[0]).parent / f"release-{digest.hexdigest()[:16]}.arrow"
    if not final.is_file():
        _write_release(pool, rows, fail_rate, final, list(columns))
    return Dataset.from_file(str(final))


def _write_release(
    pool: Dataset,
    rows: np.ndarray,
    fail_rate: dict[str, float | None],
    final: Path,
    released: list[str],
) -> None:
    """Stream the released rows of a file-backed pool into `final` (atomic), in release order."""
    from datasets.arrow_writer import ArrowWriter

    columns = [c for c in released if c != "fail_rate"]
    features = Features({c: (Value("float64") if c == "fail_rate" else pool.features[c]) for c in released})
    order = np.argsort(rows, kind="stable")
    wanted = rows[order]
    tag = f"{os.getpid()}.tmp"
    by_row = final.with_name(f".{final.stem}.by-row.{tag}")
    with ArrowWriter(features=features, path=str(by_row), writer_batch_size=_WRITE_ROWS) as writer:
        start, buffered = 0, []
        for batch in file_batches(pool):
            end = start + batch.num_rows
            lo, hi = np.searchsorted(wanted, [start, end])
            if hi > lo:
                part = pa.Table.from_batches([batch]).select(columns)
                part = part.take(pa.array(wanted[lo:hi] - start))
                ids = part.column("id").to_pylist()
                rates = pa.array([fail_rate[i] for i in ids], type=pa.float64())
                buffered.append(part.append_column("fail_rate", rates).select(released))
            # Record batches of _WRITE_ROWS rows, not one per pool batch: reading a file of
            # small batches through a memory map faults in (and keeps) nearly all its pages.
            if sum(t.num_rows for t in buffered) >= _WRITE_ROWS:
                writer.write_table(pa.concat_tables(buffered))
                buffered = []
            start = end
            if hi == len(wanted):  # every released row taken: the rest of the pool is not read
                break
        if buffered:
            writer.write_table(pa.concat_tables(buffered))
        writer.finalize()
    if len(rows) and (wanted != rows).any():
        inverse = np.empty(len(rows), dtype=np.int64)
        inverse[order] = np.arange(len(rows))
        in_order = final.with_name(f".{final.stem}.{tag}")
        Dataset.from_file(str(by_row)).select(inverse).flatten_indices(cache_file_name=str(in_order))
        by_row.unlink()
        os.replace(in_order, final)
    else:
        os.replace(by_row, final)


def _add_fail_rate(ids: list[str], *, fail_rate: dict[str, float | None]) -> dict[str, list[float | None]]:
    return {"fail_rate": [fail_rate[i] for i in ids]}
