"""Grading stage: `grade_batch` over a persistent, killable pool of worker processes.

Each item runs in a worker process (spawned, so the pool works from threads, Ray tasks and
`Dataset.map(num_proc=N)` workers alike). The parent never uses signals: it waits on pipes with
a deadline, and a worker that is still busy `timeout_s` after it got an item is killed and
replaced; that item gets `timeout` and every other item its normal verdict. Inside the workers
Math-Verify's own signal-based timeouts stay on. One pool per process, created lazily, reused
across batches, shut down at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import math
import multiprocessing as mp
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from datasets import Dataset, Features, Value

from dart_hf.benchmarks import rules_for
from dart_hf.config import GradeConfig
from dart_hf.errors import DartError
from dart_hf.grading.anchors import last_boxed
from dart_hf.grading.verdict import STATUSES, Verdict, accuracy, judge
from dart_hf.outputs import disk_full
from dart_hf.sources import read_raw

logger = logging.getLogger(__name__)

#: Bump when a change alters grading output (it is part of `fn_kwargs`, so caches refresh).
GRADE_VERSION = "3"
#: Columns read when present, beside the response and answer columns.
OPTIONAL_COLUMNS = ("answers", "answer_type", "multi_answer", "unit", "tolerance")
_START_TIMEOUT_S = 120.0


def _worker_main(conn: Connection) -> None:
    """Worker loop: receive `(key, item)`, send `(key, (pred, correct, status))`."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    logging.disable(logging.WARNING)  # Math-Verify logs every internal timeout
    # Import Math-Verify, sympy and the LaTeX parser before taking items: their first use costs
    # seconds, which would count against the first item's hard limit and get the worker killed.
    judge("$\\boxed{\\frac{1}{2}}$", "0.5")
    try:
        conn.send(("ready", os.getpid()))
        while True:
            msg = conn.recv()
            if msg is None:
                return
            key, item = msg
            try:
                v = judge(**item)
                out: tuple[Any, ...] = (v.pred, v.correct, v.status, v.source)
            except Exception:  # a grading bug must not kill the batch
                out = (None, False, "error", "error")
            conn.send((key, out))
    except (EOFError, OSError):  # the parent is gone (stopped, killed): stop quietly
        return


class _Worker:
    def __init__(self, ctx: Any) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.conn: Connection = parent
        self.ready = False
        self.started = time.monotonic()
        self.task: int | None = None
        self.deadline = math.inf

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(timeout=2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=2)
        self.conn.close()


class GradingPool:
    """Persistent worker processes with a hard per-item wall-clock limit.

    Args:
        num_proc: Number of worker processes.
    """

    def __init__(self, num_proc: int) -> None:
        self.num_proc = num_proc
        self._ctx = mp.get_context("spawn")
        self._workers = [_Worker(self._ctx) for _ in range(num_proc)]
        self._lock = threading.Lock()
        self.restarts = 0

    def map(self, items: Sequence[dict[str, Any]], timeout_s: float) -> list[Verdict]:
        """Grade `items` (keyword arguments of `answers.judge`) in parallel.

        An item still running after `timeout_s` gets status `timeout`; its worker is replaced.
        """
        with self._lock:
            return self._map(items, timeout_s)

    def _replace(self, i: int) -> None:
        self._workers[i].kill()
        self._workers[i] = _Worker(self._ctx)
        self.restarts += 1

    def _map(self, items: Sequence[dict[str, Any]], timeout_s: float) -> list[Verdict]:
        results: list[Verdict | None] = [None] * len(items)
        todo = deque(range(len(items)))
        while todo or any(w.task is not None for w in self._workers):
            now = time.monotonic()
            for w in self._workers:
                if w.ready and w.task is None and todo:
                    key = todo.popleft()
                    w.conn.send((key, items[key]))
                    w.task, w.deadline = key, now + timeout_s
            deadlines = [w.deadline for w in self._workers if w.task is not None]
            wait_s = min([*deadlines, now + 1.0]) - now
            handles: list[Any] = [w.conn for w in self._workers]
            handles += [w.proc.sentinel for w in self._workers]
            fired = set(wait(handles, timeout=max(wait_s, 0.0)))
            for i, w in enumerate(self._workers):
                if w.conn in fired or w.proc.sentinel in fired:
                    try:
                        while w.conn.poll():
                            msg = w.conn.recv()
                            if msg[0] == "ready":
                                w.ready = True
                            else:
                                key, out = msg
                                results[key] = Verdict(*out)
                                w.task, w.deadline = None, math.inf
                    except (EOFError, OSError):
                        pass
                    if not w.proc.is_alive():
                        if not w.ready:
                            raise RuntimeError("a grading worker died while starting")
                        if w.task is not None:  # crashed (e.g. out of memory) on this item
                            results[w.task] = Verdict(
                                last_boxed(items[w.task]["response"]), False, "error", "error"
                            )
                        self._replace(i)
                        continue
                now = time.monotonic()
                if w.task is not None and now >= w.deadline:
                    results[w.task] = Verdict(
                        last_boxed(items[w.task]["response"]), False, "timeout", "timeout"
                    )
                    logger.warning("grading item %d passed %.1f s; worker replaced", w.task, timeout_s)
                    self._replace(i)
                elif not w.ready and now - w.started > _START_TIMEOUT_S:
                    raise RuntimeError(f"a grading worker did not start in {_START_TIMEOUT_S} s")
        return [r if r is not None else Verdict(None, False, "error", "error") for r in results]

    def close(self) -> None:
        """Stop every worker (idempotent); interrupted (Ctrl-C), kill those left."""
        workers, self._workers = self._workers, []
        try:
            for w in workers:
                w.stop()
        except BaseException:
            for w in workers:
                with contextlib.suppress(Exception):
                    w.proc.kill()
            raise


_POOLS: dict[int, GradingPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(num_proc: int) -> GradingPool:
    """The grading pool of this process, created on first use and resized when asked."""
    pid = os.getpid()
    with _POOLS_LOCK:
        pool = _POOLS.get(pid)
        if pool is not None and pool.num_proc != num_proc:
            pool.close()
            pool = None
        if pool is None:
            # A pool inherited through fork belongs to the parent: never touch its workers.
            _POOLS.clear()
            pool = _POOLS[pid] = GradingPool(num_proc)
        return pool


@atexit.register
def shutdown_pools() -> None:
    """Stop this process's grading pool (also registered to run at exit)."""
    pool = _POOLS.pop(os.getpid(), None)
    if pool is not None:
        pool.close()


def grader_info() -> dict[str, Any]:
    """What decides verdicts: grader name, Math-Verify version and `GRADE_VERSION`.

    Part of every build's and evaluation's fingerprint and shown in every card.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        mv: str | None = version("math-verify")
    except PackageNotFoundError:  # pragma: no cover
        mv = None
    return {"name": "math-verify", "version": mv, "grade_version": GRADE_VERSION}


def _cell(batch: dict[str, list], name: str, i: int) -> Any:
    col = batch.get(name)
    return None if col is None else col[i]


def check_columns(columns: Sequence[str], response_column: str, answer_column: str) -> None:
    """Raise `DartError` naming a missing column and the columns present."""
    for name in (response_column, answer_column):
        if name not in columns:
            raise DartError(f"missing column {name!r}; columns present: {', '.join(columns) or '(none)'}")


def check_response_type(values: Sequence[Any], response_column: str) -> None:
    """Raise `DartError` when the response column holds something other than text."""
    for value in values:
        if value is not None and not isinstance(value, str):
            raise DartError(
                f"column {response_column!r} holds {type(value).__name__} values, not text; "
                "give the column of model responses with --response-column"
            )


def grade_batch(
    batch: dict[str, list],
    *,
    config: GradeConfig,
    response_column: str = "response",
    answer_column: str = "answer",
    version: str = GRADE_VERSION,
) -> dict[str, list]:
    """Grade a batch of responses against gold answers.

    Args:
        batch: Columns of the rows; needs `response_column` and `answer_column`, and reads
            `finish_reason`, `source` and the `OPTIONAL_COLUMNS` when present.
        config: Timeout, worker count and an optional forced benchmark.
        response_column: Column with the model responses.
        answer_column: Column with the gold final answers.
        version: Grading version; part of the datasets fingerprint only.

    Returns:
        New columns `pred`, `correct` (None for `bad_gold`), `grade_status` (one of
        `answers.STATUSES`) and `verdict_source` (what decided the row, one of
        `answers.VERDICT_SOURCES`).
    """
    del version
    check_columns(list(batch), response_column, answer_column)
    check_response_type(batch[response_column], response_column)
    if config.benchmark is not None:
        rules_for(config.benchmark, strict=True)
    n = len(batch[response_column])
    # Math-Verify's own timeouts sit above the hard limit, so a hang always ends as `timeout`.
    timeout = int(config.timeout_s) + 1
    verdicts: list[Verdict | None] = [None] * n
    items: list[dict[str, Any]] = []
    where: list[int] = []
    use_answers = answer_column == "answer"
    for i in range(n):
        response = batch[response_column][i] or ""
        gold = batch[answer_column][i]
        gold = None if gold is None else str(gold)
        finish = _cell(batch, "finish_reason", i)
        if finish is not None and finish not in ("stop", "length"):  # no completion came
            verdicts[i] = Verdict(None, None, "failed", "engine")
            continue
        if finish == "length":
            verdicts[i] = Verdict(last_boxed(response), False, "truncated", "truncated")
            continue
        if gold is None or not gold.strip():
            verdicts[i] = Verdict(last_boxed(response), None, "bad_gold", "bad_gold")
            continue
        item: dict[str, Any] = {
            "response": response,
            "gold": gold,
            "benchmark": config.benchmark or _cell(batch, "source", i),
            "timeout": timeout,
        }
        if config.require_anchor:
            item["require_anchor"] = True
        for name in OPTIONAL_COLUMNS:
            value = _cell(batch, name, i)
            if value is not None and (name != "answers" or use_answers):
                item[name] = list(value) if name == "answers" else value
        items.append(item)
        where.append(i)
    if items:
        for i, v in zip(where, get_pool(config.num_proc).map(items, config.timeout_s), strict=True):
            verdicts[i] = v
    done = [v for v in verdicts if v is not None]
    return {
        "pred": [v.pred for v in done],
        "correct": [v.correct for v in done],
        "grade_status": [v.status for v in done],
        "verdict_source": [v.source for v in done],
    }


# declared, not inferred: a batch where no response gives an answer (every `pred` None)
# would otherwise type the column `null`, and the graded rounds would not hold the schema
GRADE_FEATURES = Features(
    {
        "pred": Value("string"),
        "correct": Value("bool"),
        "grade_status": Value("string"),
        "verdict_source": Value("string"),
    }
)


def grade_dataset(
    ds: Dataset,
    config: GradeConfig,
    *,
    response_column: str = "response",
    answer_column: str = "answer",
    batch_size: int = 256,
    desc: str = "Grading",
) -> Dataset:
    """Add `pred`, `correct`, `grade_status` to a dataset (a batched, cached map).

    Parallelism comes from the grading pool (`config.num_proc` processes), not from the map.
    """
    check_columns(ds.column_names, response_column, answer_column)
    feature = ds.features[response_column]
    if getattr(feature, "dtype", None) not in ("string", "large_string", "null"):
        kind = getattr(feature, "dtype", None) or type(feature).__name__
        raise DartError(
            f"column {response_column!r} holds {kind} values, not text; "
            "give the column of model responses with --response-column"
        )
    kept = {k: v for k, v in ds.features.items() if k not in GRADE_FEATURES}
    return ds.map(
        grade_batch,
        batched=True,
        batch_size=batch_size,
        features=Features({**kept, **GRADE_FEATURES}),
        fn_kwargs={
            "config": config,
            "response_column": response_column,
            "answer_column": answer_column,
            # the Math-Verify version too: an upgrade without a GRADE_VERSION bump must not
            # reuse datasets' cached verdicts
            "version": f"{GRADE_VERSION}/math-verify-{grader_info()['version']}",
        },
        desc=desc,
    )


def summarize(ds: Dataset | dict[str, list]) -> dict[str, Any]:
    """Counts per grade status and accuracy over the rows whose gold answer was gradable.

    Returns:
        `{"rows", "counts": {status: n}, "graded", "correct", "accuracy"}`; accuracy is None
        when no row was gradable.
    """
    statuses = list(ds["grade_status"])
    corrects = list(ds["correct"])
    counts = {s: 0 for s in STATUSES}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    graded, right, acc = accuracy(corrects, statuses)
    return {
        "rows": len(statuses),
        "counts": counts,
        "graded": graded,
        "correct": right,
        "accuracy": acc,
    }


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def grading_workers(requested: int, rows: int) -> tuple[int, str | None]:
    """Grading processes to start: at most one per row and one per core.

    Returns:
        The count, and a message saying why it is below `requested` (None when it is not).
    """
    cores = available_cores()
    n = max(1, min(requested, rows, cores))
    if n >= requested:
        return requested, None
    return n, f"num_proc {requested} capped at {n} ({rows} rows, {cores} cores)"


def save_table(ds: Dataset, out: str | os.PathLike[str], shard_rows: int = 100_000) -> None:
    """Write rows as JSONL or parquet by the suffix of `out`, else as a folder of parquet shards.

    Files are written under a temporary name and renamed, so a partial file never appears.
    """
    path = os.fspath(out)
    suffix = os.path.splitext(path)[1].lower()
    parent = os.path.dirname(path)
    if suffix in (".jsonl", ".json", ".parquet"):
        if parent:
            os.makedirs(parent, exist_ok=True)
        tmp = f"{path}.tmp"
        if suffix == ".parquet":
            ds.to_parquet(tmp)
        else:
            ds.to_json(tmp, lines=True, force_ascii=False)
        os.replace(tmp, path)
        return
    if os.path.isfile(path):
        raise DartError(f"{path} is a file; give a .jsonl/.parquet name or a folder")
    os.makedirs(path, exist_ok=True)
    n_shards = max(1, math.ceil(len(ds) / shard_rows))
    for k in range(n_shards):
        target = os.path.join(path, f"shard-{k:05d}.parquet")
        ds.shard(n_shards, k, contiguous=True).to_parquet(f"{target}.tmp")
        os.replace(f"{target}.tmp", target)


def grade_file(
    input_path: str,
    out: str,
    config: GradeConfig,
    *,
    response_column: str = "response",
    answer_column: str = "answer",
) -> tuple[dict[str, Any], str | None]:
    """What `dart-hf grade` does: read a table, grade it, write it; return the summary.

    Args:
        input_path: JSONL, parquet or a folder of parquet shards (`sources.read_raw`).
        out: Where the graded rows go (`save_table`).
        config: Grading settings; `num_proc` is capped at rows and cores.
        response_column: Column of model responses.
        answer_column: Column of gold answers.

    Returns:
        `summarize`'s figures, and the note saying why `num_proc` was capped (None if not).
    """
    ds = read_raw(input_path)
    workers, note = grading_workers(config.num_proc, len(ds))
    if note:
        config = dataclasses.replace(config, num_proc=workers)
    graded = grade_dataset(ds, config, response_column=response_column, answer_column=answer_column)
    with disk_full(out, f"{out}.tmp", out):
        save_table(graded, out)
    return summarize(graded), note
