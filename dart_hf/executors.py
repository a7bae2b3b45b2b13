"""Where a round's sampling and grading run: in this process, or on a Ray cluster.

Both executors read and write the same files: sampling shards `shard-XXXXX.parquet` with the
same boundaries and seeds (`sampling.plan_sampling` / `sampling.sample_shard`), and grading
goes through the same killable worker pool (`grading.grade_batch`). So the round loop,
targets, budgets, statistics and resume are the executor's business in one place only: the
build calls `executor.sample(...)` and `executor.grade(...)`.

Ray: one engine per actor (`data_parallel` actors, each holding `gpus_per_engine` GPUs, e.g.
the tensor-parallel size), shards handed out by `ray.util.ActorPool`; grading as CPU tasks
over chunks of rows. Actors restart and their tasks are retried when a worker dies, and a
shard file is written by an atomic rename and skipped when it exists, so a lost worker costs
only its unfinished shard, with no lost or duplicated samples. On several nodes the output
folder must be on storage every node sees (NFS, a mounted bucket).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from datasets import Dataset, Features, concatenate_datasets

from dart_hf.arrow_io import write_arrow
from dart_hf.config import GradeConfig, SamplingConfig, StreamConfig
from dart_hf.engines.base import EngineSpec
from dart_hf.errors import DartError, missing_package, unknown_name
from dart_hf.folders import RoundFolder, SamplingFolder
from dart_hf.grading import grade as grading
from dart_hf.grading.grade import available_cores, grading_workers
from dart_hf.logs import progress_bar as tqdm
from dart_hf.sampling import shards
from dart_hf.sampling.shards import SAMPLE_FEATURES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecutorSpec:
    """Where rounds run.

    Attributes:
        kind: "local" (this process) or "ray".
        address: Ray cluster address ("auto" joins a running cluster); None starts a local one.
        data_parallel: Engine actors (Ray), one per device.
        gpus_per_engine: GPUs each engine actor holds (the tensor-parallel size on GPUs; 0 on CPU).
        grade_chunk: Rows per Ray grading task.
        num_cpus: CPUs of a local Ray cluster started here (None: all).
    """

    kind: str = "local"
    address: str | None = None
    data_parallel: int = 1
    gpus_per_engine: float = 0.0
    grade_chunk: int = 1024
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise unknown_name("executor", self.kind, EXECUTORS)
        if self.data_parallel < 1:
            raise DartError(f"data_parallel must be >= 1, got {self.data_parallel}")
        if self.gpus_per_engine < 0:
            raise DartError(f"gpus_per_engine must be >= 0, got {self.gpus_per_engine}")
        if self.grade_chunk < 1:
            raise DartError(f"grade_chunk must be >= 1, got {self.grade_chunk}")


def from_flags(
    ray: str | None, data_parallel: int | None, tensor_parallel_size: int | None
) -> tuple[ExecutorSpec | None, dict[str, Any]]:
    """The executor that `--ray`, `--data-parallel` and `--tensor-parallel-size` ask for.

    Args:
        ray: None (not given), "local" (`--ray` alone: start a local cluster) or an address.
        data_parallel: Engines (Ray actors, one per device); None = 1.
        tensor_parallel_size: GPUs per engine (vLLM's engine option); None = 1.

    Returns:
        The spec (None: everything in this process) and the engine options the flags set
        (`tensor_parallel_size` when above 1).
    """
    dp = 1 if data_parallel is None else data_parallel
    tp = 1 if tensor_parallel_size is None else tensor_parallel_size
    if tp < 1 or dp < 1:
        raise DartError("--data-parallel and --tensor-parallel-size must be >= 1")
    engine_options: dict[str, Any] = {"tensor_parallel_size": tp} if tp > 1 else {}
    if ray is None and dp == 1:
        return None, engine_options
    spec = ExecutorSpec(
        kind="ray",
        address=None if ray in (None, "local") else ray,
        data_parallel=dp,
        gpus_per_engine=float(tp) if _cuda_available() else 0.0,
    )
    return spec, engine_options


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def capped(config: GradeConfig, rows: int) -> GradeConfig:
    """`config` with `num_proc` capped by `grading_workers` (the cap is logged)."""
    n, note = grading_workers(config.num_proc, rows)
    if note is None:
        return config
    logger.info("grading: %s", note)
    return dataclasses.replace(config, num_proc=n)


class Executor(Protocol):
    """Runs one round's sampling and grading."""

    def sample(
        self,
        queries: Dataset,
        out_dir: SamplingFolder | Path,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        progress: bool,
        stream: StreamConfig | None = None,
    ) -> Dataset:
        """Sample every query into `out_dir` shards (resuming) and return all samples."""
        ...

    def grade(self, raw: Dataset, config: GradeConfig) -> Dataset:
        """Return `raw` with `pred`, `correct`, `grade_status`."""
        ...

    def run_round(
        self,
        queries: Dataset,
        out_dir: RoundFolder,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        grade: GradeConfig,
        progress: bool,
        stream: StreamConfig,
    ) -> RoundRun:
        """Sample and grade one round (one call, so the executor may interleave the two):
        its graded rows in shard order, and what the stream measured."""
        ...


@dataclass
class RoundRun:
    """What an executor's `run_round` gives: the round's graded rows and its figures.

    Attributes:
        graded: Every graded sample of the round, in shard order.
        figures: `max_in_flight`, `requests`, `peak_in_flight`, `engine_idle_s` (wall time
            with free slots and no request waiting), `slot_share` (mean share of the
            engine's slots in use, where it reports it), `seeding`, `overlap` (whether
            finished shards were graded while others generated) and `grading_wait_s` (from
            the last completion to the end of grading); docs/DESIGN.md defines each.
    """

    graded: Dataset
    figures: dict[str, Any]


def overlap_default(engine_spec: EngineSpec) -> bool:
    """Whether finished shards are graded while the rest generate, when not set.

    On this project's 2-core CPU machines the engine and the grading workers share the
    cores, and overlapping measured no faster (perf/results/bench_stream.md); with
    more cores, or an engine outside this process, grading takes nothing from it.
    """
    return available_cores() > 2 or engine_spec.backend in REMOTE_BACKENDS


REMOTE_BACKENDS = frozenset({"openai"})
"""Engines that generate outside this machine's cores."""


class ShardGrader:
    """Grades a round's finished shards, in a thread of their own while the others generate
    (overlap) or all once sampling is done; each into `RoundFolder.graded_shard(k)`."""

    def __init__(self, folder: RoundFolder, config: GradeConfig, features: Features, overlap: bool) -> None:
        import queue
        import threading

        self.folder, self.config, self.features, self.overlap = folder, config, features, overlap
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="dart-hf-grader", daemon=True)
        self._pending: list[int] = []
        if overlap:
            self._thread.start()

    def submit(self, k: int) -> None:
        """Shard k's file is written: grade it (now, or once sampling is done)."""
        if self.overlap:
            self._queue.put(k)
        else:
            self._pending.append(k)

    def _work(self) -> None:
        while True:
            k = self._queue.get()
            if k is None:
                return
            if self._error is not None:
                continue
            try:
                self.grade_shard(k)
            except BaseException as exc:  # reported by `finish`, on the caller's thread
                self._error = exc

    def grade_shard(self, k: int) -> None:
        """Grade shard k's samples into its graded file (kept when it is there)."""
        target = self.folder.graded_shard(k)
        if target.is_file():
            return
        raw = Dataset.from_parquet(str(self.folder.shard(k)), features=self.features)
        graded = grading.grade_dataset(raw, self.config)  # type: ignore[arg-type]
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        write_arrow(graded, tmp)
        os.replace(tmp, target)

    def finish(self, count: int) -> Dataset:
        """Wait for every shard's grading (grading what is left); the round's graded rows."""
        if self.overlap:
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        for k in range(count):
            self.grade_shard(k)  # any not submitted (finished before a kill), or not overlapped
        parts = [Dataset.from_file(str(self.folder.graded_shard(k))) for k in range(count)]
        return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _grade_round_locally(
    queries: Dataset,
    folder: RoundFolder,
    grade: GradeConfig,
    stream: StreamConfig,
    engine_spec: EngineSpec,
    sample: Callable[[dict[str, Any], Callable[[int, dict[str, Any]], None]], None],
) -> RoundRun:
    """Sampling (by `sample`, which calls back as each shard is written) and grading in this
    process: finished shards graded while the rest generate when `overlap`."""
    overlap = stream.overlap_grading
    if overlap is None:
        overlap = overlap_default(engine_spec)
    rows = int(sum(queries["n_samples"])) if "n_samples" in queries.column_names else len(queries)
    grader = ShardGrader(
        folder, capped(grade, rows), Features({**queries.features, **SAMPLE_FEATURES}), overlap
    )
    figures: dict[str, Any] = {}
    last = [time.monotonic()]

    def shard_done(k: int, line: dict[str, Any]) -> None:
        last[0] = time.monotonic()
        grader.submit(k)

    sample(figures, shard_done)
    last_completion = last[0]
    count = folder.recorded_count()
    if count is None:  # pragma: no cover - sampling writes the manifest first
        raise DartError(f"{folder.path}: no {folder.manifest.name} after sampling")
    graded = grader.finish(count)
    figures.setdefault("max_in_flight", stream.max_in_flight)
    figures["overlap"] = overlap
    figures["grading_wait_s"] = round(time.monotonic() - last_completion, 3)
    return RoundRun(graded, figures)


class LocalExecutor:
    """Everything in this process (the engine) and its grading pool."""

    def __init__(self, spec: ExecutorSpec) -> None:
        self.spec = spec

    def sample(self, queries: Dataset, out_dir: SamplingFolder | Path, **kwargs: Any) -> Dataset:
        """Sample with `sampling.run_sampling` (one stream, or shard by shard)."""
        stream = kwargs.pop("stream", None) or StreamConfig()
        return shards.run_sampling(
            queries, out_dir, max_in_flight=stream.max_in_flight, stream=stream.stream, **kwargs
        )

    def grade(self, raw: Dataset, config: GradeConfig) -> Dataset:
        """Grade with `grading.grade_dataset`."""
        return grading.grade_dataset(raw, capped(config, len(raw)))

    def run_round(
        self,
        queries: Dataset,
        out_dir: RoundFolder,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        grade: GradeConfig,
        progress: bool,
        stream: StreamConfig,
    ) -> RoundRun:
        """The round as one stream (`sampling.run_sampling`), its finished shards graded by
        this process's grading pool as they come (`ShardGrader`)."""

        def sample(figures: dict[str, Any], shard_done: Any) -> None:
            shards.run_sampling(
                queries,
                out_dir,
                engine_spec=engine_spec,
                sampling=sampling,
                round=round,
                seed=seed,
                shard_size=shard_size,
                progress=progress,
                max_in_flight=stream.max_in_flight,
                stream=stream.stream,
                on_shard=shard_done,
                figures=figures,
            )

        return _grade_round_locally(queries, out_dir, grade, stream, engine_spec, sample)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise missing_package("ray", "pip install 'ray[default]>=2.40'", "the Ray executor") from None
    return ray


def _arrow(ds: Dataset) -> Any:
    """The rows of `ds` as one Arrow table (applies a select/filter indices mapping)."""
    return ds.flatten_indices(keep_in_memory=True).data.table if ds._indices else ds.data.table


def _task_record(kind: str, **extra: Any) -> dict[str, Any]:
    """Ray's own ids of the running task, as evidence of where work ran."""
    import ray

    ctx = ray.get_runtime_context()
    return {
        "kind": kind,
        "task_id": ctx.get_task_id(),
        "actor_id": ctx.get_actor_id(),
        "node_id": ctx.get_node_id(),
        "pid": os.getpid(),
        **extra,
    }


ACTOR_CONCURRENCY = 64
"""Shard calls an engine actor runs at once (threads), all feeding its one engine."""


class _EngineActor:
    """Holds one engine and keeps it full: a threaded Ray actor (class decorated lazily).

    Each shard call runs in a thread of its own; a streaming engine gets every running
    shard's requests at once (`sampling.stream_shard` on the call's own event loop, the
    cap on requests in flight shared by the process); an engine that keeps its batches
    samples one shard at a time. Async actors are not used: they run inside an event loop,
    where `Dataset.map`'s async mode cannot start one of its own.
    """

    def __init__(self) -> None:
        import threading

        self._batch_lock = threading.Lock()

    def pid(self) -> int:
        return os.getpid()

    def sample_shard(self, table: Any, out_dir: str, k: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(kwargs)
        stream: StreamConfig = kwargs.pop("stream")
        folder = SamplingFolder(Path(out_dir))
        part = Dataset(table)
        if stream.stream and shards.streams(kwargs["engine_spec"]):
            meta = shards.stream_one_shard(part, folder, k, stream.max_in_flight, **kwargs)
        else:
            with self._batch_lock:
                meta = shards.sample_shard(part, folder, k, **kwargs)
        return {**meta, **_task_record("sample", shard=k)}


def _grade_chunk(table: Any, config: GradeConfig, chunk: int) -> tuple[Any, dict[str, Any]]:
    """Grade one chunk of rows in a Ray task (through the same killable pool as locally)."""
    graded = grading.grade_dataset(Dataset(table), config)
    return _arrow(graded), _task_record("grade", chunk=chunk, rows=len(graded))


def _grade_shard_file(
    path: str, features: Features, config: GradeConfig, k: int
) -> tuple[Any, dict[str, Any]]:
    """Grade one finished shard file in a Ray task (the folder is on shared storage)."""
    raw = Dataset.from_parquet(path, features=features)
    graded = grading.grade_dataset(raw, config)  # type: ignore[arg-type]
    return _arrow(graded), _task_record("grade", shard=k, rows=len(graded))


class RayExecutor:
    """Sampling on engine actors, grading as CPU tasks, on a Ray cluster."""

    def __init__(self, spec: ExecutorSpec) -> None:
        self.spec = spec
        ray = _import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
            if spec.address:
                kwargs["address"] = spec.address
            elif spec.num_cpus is not None:
                kwargs["num_cpus"] = spec.num_cpus
            ray.init(**kwargs)
        self._ray = ray
        self._actor_cls = ray.remote(max_restarts=-1, max_task_retries=-1, max_concurrency=ACTOR_CONCURRENCY)(
            _EngineActor
        )
        self._grade_task = ray.remote(max_retries=3)(_grade_chunk)
        self._grade_shard = ray.remote(max_retries=3)(_grade_shard_file)
        self._actors: dict[EngineSpec, list[Any]] = {}

    def actors(self, engine_spec: EngineSpec, want: int) -> list[Any]:
        """Engine actors for a spec, created once and reused across rounds."""
        have = self._actors.setdefault(engine_spec, [])
        # Engines reserve GPUs, not CPUs: an idle engine holding CPUs would starve the grading
        # tasks of the same round. CPU-only engines are spread over the nodes instead.
        options: dict[str, Any] = {"num_cpus": 0}
        if self.spec.gpus_per_engine:
            options["num_gpus"] = self.spec.gpus_per_engine
        else:
            options["scheduling_strategy"] = "SPREAD"
        while len(have) < min(want, self.spec.data_parallel):
            have.append(self._actor_cls.options(**options).remote())
        return have

    def _log(self, folder: SamplingFolder, records: list[dict[str, Any]]) -> None:
        with open(folder.ray_log, "a", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, default=str) + "\n")

    def _sample_shards(
        self,
        queries: Dataset,
        out_dir: SamplingFolder | Path,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        progress: bool,
        stream: StreamConfig,
        on_shard: Callable[[int], None] | None = None,
    ) -> Any:
        """Hand every unfinished shard to an engine actor at once (actors run many shard
        calls each, keeping their engines full); `on_shard(k)` as each one finishes."""
        plan = shards.open_sampling(
            queries,
            out_dir,
            engine_spec=engine_spec,
            sampling=sampling,
            round=round,
            seed=seed,
            shard_size=shard_size,
        )
        if plan.todo:
            kwargs = {
                "engine_spec": engine_spec,
                "sampling": sampling,
                "round": round,
                "seed": seed,
                "shard_size": shard_size,
                "stream": stream,
            }
            actors = self.actors(engine_spec, len(plan.todo))
            pending = {
                actors[i % len(actors)].sample_shard.remote(
                    _arrow(plan.shard_rows(queries, k)), str(plan.out), k, kwargs
                ): k
                for i, k in enumerate(plan.todo)
            }
            records = []
            bar = tqdm(total=len(plan.todo), unit="shard", desc=f"ray round {round}", disable=not progress)
            with bar:
                while pending:
                    ready, _ = self._ray.wait(list(pending), num_returns=1)
                    k = pending.pop(ready[0])
                    records.append(self._ray.get(ready[0]))
                    bar.update(1)
                    if on_shard is not None:
                        on_shard(k)
            self._log(plan.folder, records)
        return plan

    def sample(
        self,
        queries: Dataset,
        out_dir: SamplingFolder | Path,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        progress: bool,
        stream: StreamConfig | None = None,
    ) -> Dataset:
        """Sample every unfinished shard on the engine actors; return all samples."""
        plan = self._sample_shards(
            queries,
            out_dir,
            engine_spec=engine_spec,
            sampling=sampling,
            round=round,
            seed=seed,
            shard_size=shard_size,
            progress=progress,
            stream=stream or StreamConfig(),
        )
        return shards.load_samples(plan.folder, plan.n_shards, plan.features)

    def grade(self, raw: Dataset, config: GradeConfig) -> Dataset:
        """Grade chunks of rows as Ray tasks, keeping row order."""
        if len(raw) == 0:
            return grading.grade_dataset(raw, config)
        size = self.spec.grade_chunk
        refs = [
            self._grade_task.remote(_arrow(raw.select(range(i, min(i + size, len(raw))))), config, i // size)
            for i in range(0, len(raw), size)
        ]
        results = self._ray.get(refs)
        self.last_grade_tasks = [rec for _, rec in results]
        parts = [Dataset(table) for table, _ in results]
        return parts[0] if len(parts) == 1 else concatenate_datasets(parts)

    def run_round(
        self,
        queries: Dataset,
        out_dir: RoundFolder,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        grade: GradeConfig,
        progress: bool,
        stream: StreamConfig,
    ) -> RoundRun:
        """Shards sampled on the engine actors; each finished shard graded by a CPU task
        at once (overlap) or once every shard is sampled."""
        overlap = stream.overlap_grading
        if overlap is None:
            overlap = overlap_default(engine_spec)
        features = Features({**queries.features, **SAMPLE_FEATURES})
        graders: dict[int, Any] = {}

        def shard_done(k: int) -> None:
            graders[k] = self._grade_shard.remote(str(out_dir.shard(k)), features, grade, k)

        plan = self._sample_shards(
            queries,
            out_dir,
            engine_spec=engine_spec,
            sampling=sampling,
            round=round,
            seed=seed,
            shard_size=shard_size,
            progress=progress,
            stream=stream,
            on_shard=shard_done if overlap else None,
        )
        last_completion = time.monotonic()
        for k in range(plan.n_shards):
            if k not in graders:  # finished before a kill, or not overlapped
                shard_done(k)
        results = self._ray.get([graders[k] for k in range(plan.n_shards)])
        self.last_grade_tasks = [rec for _, rec in results]
        parts = [Dataset(table) for table, _ in results]
        graded = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
        waited = time.monotonic() - last_completion
        figures = {
            "max_in_flight": stream.max_in_flight,
            "overlap": overlap,
            "grading_wait_s": float(f"{waited:.3f}"),
        }
        return RoundRun(graded, figures)


EXECUTORS: dict[str, type] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(spec: ExecutorSpec) -> Executor:
    """Build the executor for a spec."""
    executor: Executor = EXECUTORS[spec.kind](spec)
    return executor
