"""The Ray executor on a local Ray cluster (CPU only): same build as the local path, tasks that
really ran on Ray, and a killed worker that loses or duplicates nothing.

The scripted engine (a labelled simulation, deterministic per seed) keeps these small; the
sampling stage, grading pool, DARS rounds and assembly around it are the production code.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from datasets import Dataset, load_dataset
from helpers import BASE

from dart_hf.build import run
from dart_hf.config import GradeConfig, SamplingConfig
from dart_hf.engines import EngineSpec
from dart_hf.executors import ExecutorSpec, LocalExecutor, RayExecutor
from dart_hf.folders import BuildFolder
from dart_hf.sampling import shards as sampling
from dart_hf.sources import load_pool

ray = pytest.importorskip("ray")

SETTINGS = dict(BASE, limit=8, shard_size=3)  # the scripted build of test_build, smaller


@pytest.fixture(scope="module")
def ray_cluster() -> object:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


def _releases(out: Path) -> dict[str, list[dict]]:
    return {
        folder.name: load_dataset(str(folder), split="train").to_list()
        for folder in sorted((out / "releases").iterdir())
        if folder.name != run.POOL_RELEASE
    }


def _state(out: Path) -> list[dict]:
    final = out / "state" / f"round-{BuildFolder(out).last_round():03d}.parquet"
    return Dataset.from_parquet(str(final)).to_list()


def test_ray_build_equals_local_build(ray_cluster: object, tmp_path: Path) -> None:
    local = run.run_build(dict(SETTINGS), tmp_path / "local")
    spec = ExecutorSpec(kind="ray", data_parallel=2, grade_chunk=16)
    on_ray = run.run_build(dict(SETTINGS), tmp_path / "ray", executor=spec)
    assert _releases(tmp_path / "ray") == _releases(tmp_path / "local")
    assert _state(tmp_path / "ray") == _state(tmp_path / "local")
    for key in ("raw_samples", "correct_samples", "rounds"):
        assert getattr(on_ray.stats.totals, key) == getattr(local.stats.totals, key)
    # Evidence that Ray ran the sampling: task and actor ids from Ray's runtime context,
    # in worker processes other than this one.
    records = [
        json.loads(line)
        for path in (tmp_path / "ray" / "rounds").glob("round-*/ray_tasks.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert records and all(r["task_id"] and r["actor_id"] for r in records)
    assert {r["pid"] for r in records}.isdisjoint({os.getpid()})
    assert not (tmp_path / "local" / "rounds" / "round-000" / "ray_tasks.jsonl").exists()


def test_ray_grading_matches_local(ray_cluster: object) -> None:
    rows = load_pool("gsm8k", limit=6).to_dict()
    rows["response"] = [f"The final answer is $\\boxed{{{a}}}$." for a in rows["answer"]]
    rows["response"][1] = "The final answer is $\\boxed{-1}$."
    ds = Dataset.from_dict(rows)
    config = GradeConfig(timeout_s=5.0)
    ray_exec = RayExecutor(ExecutorSpec(kind="ray", grade_chunk=4))
    on_ray = ray_exec.grade(ds, config)
    local = LocalExecutor(ExecutorSpec()).grade(ds, config)
    assert on_ray.to_list() == local.to_list()
    assert on_ray["correct"] == [True, False, True, True, True, True]
    tasks = ray_exec.last_grade_tasks
    assert len(tasks) == 2 and all(t["task_id"] for t in tasks)


def test_killed_worker_loses_and_duplicates_nothing(ray_cluster: object, tmp_path: Path) -> None:
    queries = load_pool("gsm8k", limit=12)
    table = tmp_path / "table.parquet"
    queries.select_columns(["query", "answer", "solution", "level"]).to_parquet(str(table))
    engine = EngineSpec(backend="scripted", options=(("delay_s", 1.0), ("table", str(table))))
    config = SamplingConfig(n=3, template="deepseekmath", max_tokens=4096)
    kw = {"engine_spec": engine, "sampling": config, "round": 0, "seed": 5, "shard_size": 2}

    expected = sampling.run_sampling(queries, tmp_path / "local", progress=False, **kw)

    executor = RayExecutor(ExecutorSpec(kind="ray", data_parallel=1))
    out = tmp_path / "ray"
    killed: list[int] = []

    def kill_once_a_shard_is_written() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not list(out.glob("shard-*.parquet")):
            time.sleep(0.1)
        actor = executor.actors(engine, 1)[0]
        pid = ray.get(actor.pid.remote())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_once_a_shard_is_written)
    killer.start()
    got = executor.sample(queries, out, progress=False, **kw)
    killer.join()
    assert killed, "the worker was not killed"
    assert ray.get(executor.actors(engine, 1)[0].pid.remote()) != killed[0]  # restarted
    keys = [(r["id"], r["round"], r["sample_idx"]) for r in got]
    assert len(keys) == len(set(keys)) == len(expected) == 36
    assert sorted(got.to_list(), key=str) == sorted(expected.to_list(), key=str)


def _eval_table(tmp_path: Path, benches: tuple[str, ...], limit: int) -> EngineSpec:
    """A scripted engine whose table holds the bundled benchmarks' first items."""
    import json as _json

    from dart_hf.sources import load_benchmark

    rows = []
    for bench in benches:
        for r in load_benchmark(bench, limit=limit):
            rows.append(
                {
                    "query": r["query"],
                    "answer": r["answer"],
                    "solution": r["solution"],
                    "level": 3 if r["level"] is None else r["level"],
                }
            )
    table = tmp_path / "table.jsonl"
    table.write_text("".join(_json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return EngineSpec(backend="scripted", model="scripted-eval", options=(("table", str(table)),))


def test_ray_evaluation_equals_local(ray_cluster: object, tmp_path: Path) -> None:
    """`dart-hf eval --data-parallel 2` runs on the same executors as a build, with the same
    shards, predictions and results as in this process; its shards were sampled by actors."""
    from dart_hf.evaluation import run as ev

    benches = ("gsm8k", "math500")
    spec = _eval_table(tmp_path, benches, 6)
    config = ev.EvalConfig(
        benchmarks=benches,
        template="alpaca",
        limit=6,
        n=2,
        temperature=0.8,
        max_tokens=1024,
        shard_size=2,
    )
    local = ev.run_eval(config, tmp_path / "local", engine_spec=spec, progress=False)
    on_ray = ev.run_eval(
        config,
        tmp_path / "ray",
        engine_spec=spec,
        progress=False,
        executor=ExecutorSpec(kind="ray", data_parallel=2, grade_chunk=5),
    )
    assert on_ray["benchmarks"] == local["benchmarks"] and on_ray["average"] == local["average"]
    for bench in benches:
        a = load_dataset(str(tmp_path / "local" / "predictions"), bench, split="test").to_list()
        b = load_dataset(str(tmp_path / "ray" / "predictions"), bench, split="test").to_list()
        assert a == b and len(a) == 12
        tasks = tmp_path / "ray" / "samples" / bench / "seed-0" / "ray_tasks.jsonl"
        records = [json.loads(x) for x in tasks.read_text(encoding="utf-8").splitlines()]
        assert sorted(r["shard"] for r in records) == [0, 1, 2]
        assert all(r["kind"] == "sample" and r["actor_id"] for r in records)
