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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from datasets import Dataset, concatenate_datasets

from dart_hf.config import GradeConfig, SamplingConfig
from dart_hf.engines.base import EngineSpec
from dart_hf.errors import DartError, missing_package, unknown_name
from dart_hf.folders import SamplingFolder
from dart_hf.grading import grading_workers

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
    ) -> Dataset:
        """Sample every query into `out_dir` shards (resuming) and return all samples."""
        ...

    def grade(self, raw: Dataset, config: GradeConfig) -> Dataset:
        """Return `raw` with `pred`, `correct`, `grade_status`."""
        ...

    def run_round(
        self,
        queries: Dataset,
        out_dir: SamplingFolder,
        *,
        engine_spec: EngineSpec,
        sampling: SamplingConfig,
        round: int,
        seed: int,
        shard_size: int,
        grade: GradeConfig,
        progress: bool,
    ) -> Dataset:
        """Sample and grade one round: its graded rows, in shard order (one call, so the
        executor may interleave the two)."""
        ...


class _SampleThenGrade:
    """`run_round` as sampling, then grading of everything sampled."""

    def run_round(
        self, queries: Dataset, out_dir: SamplingFolder, *, grade: GradeConfig, **kwargs: Any
    ) -> Dataset:
        """Sample every shard of the round, then grade them all."""
        raw = self.sample(queries, out_dir, **kwargs)  # type: ignore[attr-defined]
        return self.grade(raw, grade)  # type: ignore[attr-defined,no-any-return]


class LocalExecutor(_SampleThenGrade):
    """Everything in this process (the engine) and its grading pool."""

    def __init__(self, spec: ExecutorSpec) -> None:
        self.spec = spec

    def sample(self, queries: Dataset, out_dir: SamplingFolder | Path, **kwargs: Any) -> Dataset:
        """Sample with `sampling.run_sampling`."""
        from dart_hf import sampling

        return sampling.run_sampling(queries, out_dir, **kwargs)

    def grade(self, raw: Dataset, config: GradeConfig) -> Dataset:
        """Grade with `grading.grade_dataset`."""
        from dart_hf import grading

        return grading.grade_dataset(raw, capped(config, len(raw)))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise missing_package(
            "ray", "pip install 'ray[default]>=2.40'", "the Ray executor"
        ) from None
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


class _EngineActor:
    """Holds one engine; samples whole shards (a Ray actor class, decorated lazily)."""

    def pid(self) -> int:
        return os.getpid()

    def sample_shard(
        self, table: Any, out_dir: str, k: int, kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        from dart_hf import sampling

        meta = sampling.sample_shard(Dataset(table), SamplingFolder(Path(out_dir)), k, **kwargs)
        return {**meta, **_task_record("sample", shard=k)}


def _grade_chunk(table: Any, config: GradeConfig, chunk: int) -> tuple[Any, dict[str, Any]]:
    """Grade one chunk of rows in a Ray task (through the same killable pool as locally)."""
    from dart_hf import grading

    graded = grading.grade_dataset(Dataset(table), config)
    return _arrow(graded), _task_record("grade", chunk=chunk, rows=len(graded))


class RayExecutor(_SampleThenGrade):
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
        self._actor_cls = ray.remote(max_restarts=-1, max_task_retries=-1)(_EngineActor)
        self._grade_task = ray.remote(max_retries=3)(_grade_chunk)
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
    ) -> Dataset:
        """Hand each unfinished shard to an engine actor; return all samples."""
        from ray.util import ActorPool

        from dart_hf import sampling as sampling_mod
        from dart_hf.logs import progress_bar as tqdm  # honours -q, TQDM_DISABLE

        plan = sampling_mod.open_sampling(
            queries, out_dir, engine_spec=engine_spec, sampling=sampling, round=round,
            seed=seed, shard_size=shard_size,
        )  # fmt: skip
        if plan.todo:
            kwargs = {
                "engine_spec": engine_spec,
                "sampling": sampling,
                "round": round,
                "seed": seed,
                "shard_size": shard_size,
            }
            pool = ActorPool(self.actors(engine_spec, len(plan.todo)))
            tables = {k: _arrow(plan.shard_rows(queries, k)) for k in plan.todo}
            records = []
            bar = tqdm(total=len(plan.todo), unit="shard", desc=f"ray round {round}",
                       disable=not progress)  # fmt: skip
            with bar:
                for rec in pool.map_unordered(
                    lambda a, k: a.sample_shard.remote(tables[k], str(plan.out), k, kwargs),
                    plan.todo,
                ):
                    records.append(rec)
                    bar.update(1)
            self._log(plan.folder, records)
        return sampling_mod.load_samples(plan.folder, plan.n_shards, plan.features)

    def grade(self, raw: Dataset, config: GradeConfig) -> Dataset:
        """Grade chunks of rows as Ray tasks, keeping row order."""
        if len(raw) == 0:
            from dart_hf import grading

            return grading.grade_dataset(raw, config)
        size = self.spec.grade_chunk
        refs = [
            self._grade_task.remote(_arrow(raw.select(range(i, min(i + size, len(raw))))),
                                    config, i // size)
            for i in range(0, len(raw), size)
        ]  # fmt: skip
        results = self._ray.get(refs)
        self.last_grade_tasks = [rec for _, rec in results]
        parts = [Dataset(table) for table, _ in results]
        return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


EXECUTORS: dict[str, type] = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(spec: ExecutorSpec) -> Executor:
    """Build the executor for a spec."""
    executor: Executor = EXECUTORS[spec.kind](spec)
    return executor
