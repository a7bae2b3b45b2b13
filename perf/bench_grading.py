"""Grading throughput, before and after a grader change, with 1 and 2 worker processes.

The responses are MATH test reference solutions, graded through `grade_batch` (the persistent
pool; pool start-up is excluded) against their own gold (mostly correct) and against another
row's gold (wrong: the expensive path). "before" is the package as of a git revision
(`--before`, default: the last commit before the Math-Verify-first grader), extracted with
`git archive` into a temporary folder and run in a child process; "after" is the working tree,
run the same way. Everything happens in this one command, alternating, so the ratios compare
like with like on a shared machine.

    .venv/bin/python perf/bench_grading.py [--data-dir ../shared/data] [--rows 2000]

Writes `perf/results/bench_grading.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = "a8400ec"  # the hand-written extraction (GRADE_VERSION 1)

CHILD = r"""
import json, sys, time
from dart_hf.config import GradeConfig
try:  # the stage package (after the package layout issue), else the flat module before it
    from dart_hf.grading.grade import get_pool, grade_batch, shutdown_pools
except ImportError:
    from dart_hf.grading import get_pool, grade_batch, shutdown_pools
from dart_hf.sources import load_benchmark

data_dir, rows, num_proc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ds = load_benchmark("math", data_dir=data_dir, limit=rows)
batch = ds.to_dict()
n = len(ds)
own = {**batch, "response": batch["solution"]}
other = {**batch, "response": batch["solution"][n // 2 :] + batch["solution"][: n // 2]}
config = GradeConfig(timeout_s=5.0, num_proc=num_proc)
get_pool(num_proc)
grade_batch({k: v[:8] for k, v in own.items()}, config=config)  # warm the workers
out = {}
for label, b in (("own", own), ("other", other)):
    t0 = time.perf_counter()
    res = grade_batch(b, config=config)
    out[label] = {"s": time.perf_counter() - t0, "n": n,
                  "correct": sum(c is True for c in res["correct"])}
shutdown_pools()
print(json.dumps(out))
"""


def run_child(pythonpath: str, data_dir: str, rows: int, num_proc: int) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath, "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, data_dir, str(rows), str(num_proc)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=pythonpath,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--before", default=BEFORE, help="git revision of the old grader")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", args.before, "dart_hf"], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        versions = {"before": tmp, "after": str(REPO)}
        results: dict[str, dict[int, list[dict]]] = {v: {1: [], 2: []} for v in versions}
        for _ in range(args.repeats):
            for num_proc in (1, 2):
                for name, path in versions.items():  # alternate before/after
                    results[name][num_proc].append(run_child(path, args.data_dir, args.rows, num_proc))
    summary: dict[str, object] = {"rows": args.rows, "before": args.before, "runs": results}
    lines = []
    for label in ("own", "other"):
        for num_proc in (1, 2):
            rate = {}
            for name in versions:
                runs = results[name][num_proc]
                best = min(r[label]["s"] for r in runs)
                rate[name] = runs[0][label]["n"] / best
                acc = runs[0][label]["correct"] / runs[0][label]["n"]
                lines.append(
                    f"{label:5s} gold, {num_proc} proc, {name:6s}: {rate[name]:7.1f} items/s, "
                    f"{100 * acc:.2f}% correct"
                )
            ratio = rate["after"] / rate["before"]
            summary[f"{label}_{num_proc}proc_after_over_before"] = round(ratio, 3)
            lines.append(f"{label:5s} gold, {num_proc} proc: after / before = {ratio:.2f}x")
        for name in versions:
            r1 = min(r[label]["s"] for r in results[name][1])
            r2 = min(r[label]["s"] for r in results[name][2])
            summary[f"{label}_{name}_2proc_speedup"] = round(r1 / r2, 3)
            lines.append(f"{label:5s} gold, {name:6s}: 2 vs 1 processes = {r1 / r2:.2f}x")
    print("\n".join(lines))
    out = REPO / "perf" / "results" / "bench_grading.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
