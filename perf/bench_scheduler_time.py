"""Scheduler time and decisions: the working tree's `dars` against a git revision's.

Not run in CI. Runs `bench_scheduler.run_ours` (the production policy's rounds: schedule,
simulated outcomes, stop rules) on fixed cases with the package as of `--old` (default
HEAD, extracted with `git archive`) and with the working tree, each in its own child
process, alternating `--pairs` times, and reports per case the median time of each side,
their ratio (new / old: below 1 is faster), whether every decision is the same (a hash of
the final state's samples, corrects and stop reasons, and the round count) and whether the
stop prices recorded with them are.

    .venv/bin/python perf/bench_scheduler_time.py [--old REV] [--pairs 3] [--queries 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CASES = (
    ("heavy_tail", "prop2diff", None),
    ("bimodal", "uniform", None),
    ("log_tail", "prop2diff", 0.5),
)
"""(pass-rate model, setup, budget as a share of the reference's full run or None)."""


def child(queries: int, bench: str) -> None:
    """Run every case once with the `dart_hf` on sys.path and that tree's benchmark scripts
    (`bench`); print one JSON line per case."""
    import dataclasses
    import hashlib
    import time

    import numpy as np

    sys.path.insert(0, bench)
    import bench_scheduler as bs
    import scheduler_models

    from dart_hf.config import DarsConfig

    for model, setup, share in CASES:
        base = DarsConfig(**bs.PAPER, **bs.SETUPS[setup])
        rng = np.random.default_rng([0, 7])
        levels, p = scheduler_models.draw(scheduler_models.MODELS[model], queries, rng)
        ph = bs.phase(p, base.difficulty_samples, rng)
        st0 = bs.start_state(levels, base, ph)
        cfg = base
        if share is not None:
            ref, _ = bs.run_reference(p, st0["target"], base.max_trials, ph, np.random.default_rng(0))
            cfg = dataclasses.replace(base, budget=int(share * ref["samples"].sum()))
        t0 = time.process_time()
        res = bs.run_ours(p, st0, cfg, np.random.default_rng([0, 1]))
        seconds = time.process_time() - t0
        st = res["state"]
        digest = hashlib.sha256()
        for key in ("samples", "corrects"):
            digest.update(np.asarray(st[key]).tobytes())
        digest.update(json.dumps([str(r) for r in st["stop_reason"]]).encode())
        recorded = hashlib.sha256()
        for key in ("stop_price", "stop_first_rows"):
            recorded.update(np.asarray(st[key]).tobytes())
        print(
            json.dumps(
                {
                    "case": f"{model}/{setup}" + ("" if share is None else f"/budget {share}"),
                    "cpu_s": round(seconds, 3),
                    "rounds": res["rounds"],
                    "samples": int(st["samples"].sum()),
                    "decisions": digest.hexdigest()[:16],
                    "prices": recorded.hexdigest()[:16],
                }
            ),
            flush=True,
        )


def run(tree: Path, queries: int) -> list[dict]:
    """One child process with `tree`'s package and benchmark scripts (cwd there too, so the
    working tree's package cannot shadow an older one)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import bench_scheduler_time as b; "
    scripts = tree / "perf" if (tree / "perf").is_dir() else tree / "benchmarks"  # older trees
    code += f"b.child({queries}, {str(scripts)!r})"
    code += "; import dart_hf; assert dart_hf.__file__.startswith(sys.argv[1]), dart_hf.__file__"
    out = subprocess.run(
        [sys.executable, "-c", code, str(tree)], env=env, cwd=tree, capture_output=True, text=True, check=True
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="HEAD")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        listed = subprocess.run(
            ["git", "ls-tree", "--name-only", args.old],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        scripts = "perf" if "perf" in listed else "benchmarks"  # the folder's name before
        archive = subprocess.run(
            ["git", "archive", args.old, "dart_hf", scripts], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        runs: dict[str, list[list[dict]]] = {"old": [], "new": []}
        for _ in range(args.pairs):  # alternate, so load drifts hit both sides alike
            runs["old"].append(run(old, args.queries))
            runs["new"].append(run(REPO, args.queries))
    print(
        f"old = {args.old}, new = working tree; {args.queries} queries, seed 0, "
        f"{args.pairs} alternating pairs, CPU seconds of the scheduler's rounds"
    )
    print(
        f"{'case':<32} {'old s':>8} {'new s':>8} {'new/old':>8} {'rounds':>7}  decisions  "
        "recorded stop prices"
    )
    for i, first in enumerate(runs["old"][0]):
        a = statistics.median(r[i]["cpu_s"] for r in runs["old"])
        b = statistics.median(r[i]["cpu_s"] for r in runs["new"])
        same = {r[i]["decisions"] for r in runs["old"] + runs["new"]} == {first["decisions"]}
        rounds = {r[i]["rounds"] for r in runs["old"] + runs["new"]}
        priced = {r[i].get("prices") for r in runs["old"] + runs["new"]} == {first.get("prices")}
        shown = "/".join(map(str, sorted(rounds)))
        verdict = f"{'same' if same else 'DIFFERENT':<9}  {'same' if priced else 'different'}"
        print(f"{first['case']:<32} {a:>8.2f} {b:>8.2f} {b / a:>8.3f} {shown:>7}  {verdict}")


if __name__ == "__main__":
    main()
