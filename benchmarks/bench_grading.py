"""Grading throughput with 1 and 2 worker processes on 5,000 MATH responses.

The responses are the MATH test reference solutions, graded against their own gold answers
through `grade_batch` (the persistent pool; pool start-up is excluded). Both runs happen in
this one command, so the ratio compares like with like.

    .venv/bin/python benchmarks/bench_grading.py [--data-dir ../shared/data] [--rows 5000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dart_hf.config import GradeConfig
from dart_hf.grading import get_pool, grade_batch, shutdown_pools
from dart_hf.sources import load_benchmark


def run(batch: dict[str, list], num_proc: int) -> tuple[float, int]:
    config = GradeConfig(timeout_s=5.0, num_proc=num_proc)
    get_pool(num_proc)
    grade_batch({k: v[:8] for k, v in batch.items()}, config=config)  # warm the workers
    t0 = time.perf_counter()
    out = grade_batch(batch, config=config)
    elapsed = time.perf_counter() - t0
    shutdown_pools()
    return elapsed, sum(c is True for c in out["correct"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    ds = load_benchmark("math", data_dir=args.data_dir, limit=args.rows)
    batch = ds.to_dict()
    batch["response"] = batch["solution"]
    n = len(ds)
    # Own solutions mostly match their gold textually; another row's solution (a wrong answer)
    # goes through the numeric rules or Math-Verify, the expensive path.
    shifted = {**batch, "response": batch["solution"][n // 2 :] + batch["solution"][: n // 2]}
    for label, b in (("own solution", batch), ("other row's solution", shifted)):
        results = {}
        for num_proc in (1, 2):
            elapsed, ok = run(b, num_proc)
            results[num_proc] = elapsed
            print(
                f"{label}, num_proc={num_proc}: {n} items in {elapsed:.1f} s = "
                f"{n / elapsed:.0f} items/s, {ok}/{n} correct ({100 * ok / n:.2f}%)"
            )
        print(f"{label}: speed-up 2 vs 1 processes: {results[1] / results[2]:.2f}x")


if __name__ == "__main__":
    main()
