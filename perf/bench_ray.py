"""Overhead of the Ray executor: the same build in this process and on a local Ray cluster.

Both builds run in this one command on the same settings: the scripted engine (a labelled
simulation, so the engine costs nothing and what is left is the executor's overhead plus the
real grading, DARS and assembly) over a slice of MATH + GSM8K train. The Ray run uses 2 engine
actors and Ray grading tasks on a local 2-CPU cluster; no speed-up is expected on 2 cores.
The datasets of both runs are compared too.

    .venv/bin/python perf/bench_ray.py [--limit 60] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from datasets import load_dataset

from dart_hf.build import run as build
from dart_hf.executors import ExecutorSpec


def settings(limit: int, data_dir: str | None) -> dict:
    return {
        "engine": "scripted",
        "pool": "gsm8k,math",
        "data_dir": data_dir,
        "limit": limit,
        "template": "deepseekmath",
        "max_tokens": 4096,
        "strategies": "uniform,prop2diff,vrt",
        "k_u": 4,
        "k_p": 8,
        "vrt_n": 8,
        "max_trials": 64,
        "difficulty_samples": 8,
        "round_cap": 16,
        "shard_size": 16,
        "num_proc": 2,
    }


def releases(out: Path) -> dict[str, list]:
    return {
        f.name: load_dataset(str(f), split="train").to_list()
        for f in sorted((out / "releases").iterdir())
        if f.name != build.POOL_RELEASE
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    s = settings(args.limit, args.data_dir)
    t0 = time.perf_counter()
    local = build.run_build(dict(s), tmp / "local")
    t_local = time.perf_counter() - t0

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t_init = time.perf_counter() - t0
    t0 = time.perf_counter()
    build.run_build(dict(s), tmp / "ray", executor=ExecutorSpec(kind="ray", data_parallel=2, grade_chunk=256))
    t_ray = time.perf_counter() - t0
    ray.shutdown()
    same = releases(tmp / "ray") == releases(tmp / "local")
    result = {
        "queries": args.limit,
        "raw_samples": local.stats.totals.raw_samples,
        "rounds": local.stats.totals.rounds,
        "local_s": round(t_local, 2),
        "ray_init_s": round(t_init, 2),
        "ray_build_s": round(t_ray, 2),
        "ray_over_local": round(t_ray / t_local, 3),
        "same_datasets": same,
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
