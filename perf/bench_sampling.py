"""Sampling throughput (not run in CI).

1. The sampling stage (`run_sampling`: the round as one stream through the journal, shard
   files, reload; and the old shard-by-shard path, one blocking call per shard) against a
   bare `LLM.generate` on the same prompts and settings, same engine, same run: tokens/s and
   their ratios (goal for the stream >= 0.95; 96 queries, 16 per shard, 4 samples, 128
   tokens). Runs alternate (bare, stream, shards, bare, ...) to spread drift.
2. `dart-hf sample` end to end (process start, model load, sampling, writing) with the
   transformers and the vLLM engine, for a small and a larger job.

Usage:
    flock /tmp/dart-hf-engine.lock .venv/bin/python perf/bench_sampling.py [--quick]

Writes a JSON summary to perf/results/bench_sampling.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stage_vs_bare(
    queries: int,
    n: int,
    max_tokens: int,
    repeats: int,
    eager: bool,
    shard_size: int,
    modes: tuple[str, ...] = ("stream", "shards"),
) -> dict:
    """Tokens/s of `run_sampling` (streamed, and shard by shard) and of a bare
    `LLM.generate` on one engine."""
    from dart_hf.config import SamplingConfig
    from dart_hf.engines import EngineSpec, get_engine, release_engine
    from dart_hf.sampling.prompts import get_template, render_prompt
    from dart_hf.sampling.shards import run_sampling, shard_seed
    from dart_hf.sources import load_pool

    # the full GSM8K train file where it is (../shared/data, $DART_HF_DATA_DIR): the bundled
    # slice has 60 rows
    data = os.environ.get("DART_HF_DATA_DIR") or str(REPO.parent / "shared" / "data")
    pool = load_pool("gsm8k", limit=queries, data_dir=data if Path(data).is_dir() else None)
    if len(pool) < queries:
        raise SystemExit(f"only {len(pool)} GSM8K rows: give DART_HF_DATA_DIR")
    cfg = SamplingConfig(n=n, temperature=1.0, top_p=0.95, max_tokens=max_tokens, template="deepseekmath")
    spec = EngineSpec(backend="vllm", options=(("enforce_eager", eager),))
    t0 = time.perf_counter()
    engine = get_engine(spec)
    startup = time.perf_counter() - t0
    import vllm

    prompts = [render_prompt(cfg.template, q) for q in pool["query"]]
    sp = vllm.SamplingParams(
        n=n,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_tokens=max_tokens,
        stop=list(get_template(cfg.template).stop),
    )
    engine.llm.generate(prompts[:2], sp, use_tqdm=False)  # warm-up
    bare: list[float] = []
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    figures = []
    for rep in range(repeats):
        engine.reseed(shard_seed(rep, 0, 0))
        t = time.perf_counter()
        res = engine.llm.generate(prompts, sp, use_tqdm=False)
        dt = time.perf_counter() - t
        bare.append(sum(len(c.token_ids) for r in res for c in r.outputs) / dt)
        for mode in runs:
            out = Path(tempfile.mkdtemp(prefix="bench-stage-"))
            measured: dict = {}
            t = time.perf_counter()
            ds = run_sampling(
                pool,
                out,
                engine_spec=spec,
                sampling=cfg,
                seed=rep,
                shard_size=shard_size,
                progress=False,
                stream=mode == "stream",
                figures=measured,
            )
            dt = time.perf_counter() - t
            runs[mode].append(sum(ds["n_tokens"]) / dt)
            if measured:
                figures.append(measured)
            shutil.rmtree(out, ignore_errors=True)
        shown = ", ".join(f"{m} {v[-1]:.1f}" for m, v in runs.items())
        print(f"  rep {rep}: bare {bare[-1]:.1f} tok/s, {shown}", flush=True)
    release_engine(spec)
    return {
        "queries": queries,
        "shard_size": shard_size,
        "n": n,
        "max_tokens": max_tokens,
        "enforce_eager": eager,
        "startup_s": round(startup, 1),
        "bare_tok_s": [round(x, 1) for x in bare],
        **{f"{m}_tok_s": [round(x, 1) for x in v] for m, v in runs.items()},
        **{
            f"{m}_ratio_per_pair": [round(a / b, 3) for a, b in zip(v, bare, strict=True)]
            for m, v in runs.items()
        },
        **{
            f"{m}_ratio_median": round(statistics.median(a / b for a, b in zip(v, bare, strict=True)), 3)
            for m, v in runs.items()
        },
        "stream_figures": figures,
    }


def end_to_end(engine: str, queries: int, n: int, max_tokens: int, hf_threads: int) -> dict:
    """Wall time of `dart-hf sample` in a fresh process, start-up included."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-e2e-{engine}-"))
    recipe = out.parent / f"{out.name}.yaml"
    options: dict = {"enforce_eager": True} if engine == "vllm" else {"batch_size": 16}
    if engine == "transformers" and hf_threads:
        options["num_threads"] = hf_threads
    recipe.write_text(json.dumps({"engine_options": options}))
    cmd = [
        sys.executable,
        "-c",
        "from dart_hf.cli import main; main()",
        "sample",
        "--pool",
        "gsm8k",
        "--engine",
        engine,
        "--template",
        "deepseekmath",
        "--n",
        str(n),
        "--max-tokens",
        str(max_tokens),
        "--temperature",
        "1.0",
        "--top-p",
        "0.95",
        "--limit",
        str(queries),
        "--shard-size",
        str(queries),
        "--config",
        str(recipe),
        "-o",
        str(out / "s"),
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    log = [json.loads(x) for x in (out / "s" / "shards.jsonl").read_text().splitlines()]
    tokens = sum(x["tokens"] for x in log)
    shutil.rmtree(out, ignore_errors=True)
    recipe.unlink()
    return {
        "engine": engine,
        "queries": queries,
        "n": n,
        "max_tokens": max_tokens,
        "tokens": tokens,
        "wall_s": round(wall, 1),
        "tok_s_end_to_end": round(tokens / wall, 1),
        "tok_s_sampling": round(tokens / sum(x["wall_s"] for x in log), 1),
    }


def main() -> None:
    """Run both benchmarks and write the summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller end-to-end jobs")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--skip-stage", action="store_true")
    ap.add_argument("--hf-threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument(
        "--with-shards", action="store_true", help="also time the shard-by-shard path (stream: false)"
    )
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    results: dict = {"machine": f"{os.cpu_count()} cores", "load_avg": os.getloadavg()}
    if not args.skip_stage:
        print("stage vs bare LLM.generate", flush=True)
        q, n, k = 96, 4, 128
        modes = ("stream", "shards") if args.with_shards else ("stream",)
        results["stage_vs_bare"] = stage_vs_bare(
            q, n, k, repeats=args.pairs, eager=True, shard_size=16, modes=modes
        )
        print(json.dumps(results["stage_vs_bare"]), flush=True)
    if not args.skip_e2e:
        jobs = {"small": (4, 2, 64), "large": (16, 4, 128) if args.quick else (32, 4, 256)}
        results["end_to_end"] = []
        for size, (q, n, k) in jobs.items():
            for engine in ("transformers", "vllm"):
                row = {"job": size, **end_to_end(engine, q, n, k, args.hf_threads)}
                results["end_to_end"].append(row)
                print(json.dumps(row), flush=True)
    results["load_avg_after"] = os.getloadavg()
    name = "bench_sampling" + ("-e2e" if args.skip_stage else "") + ("-stage" if args.skip_e2e else "")
    dest = REPO / "perf" / "results" / f"{name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
