"""Training throughput of packed against unpacked batches, in one process.

Same real (query, response) pairs (GSM8K + MATH train reference solutions), same model, one
epoch each; reports real (non-padding) tokens per second and the ratio packed / unpacked.

    flock /tmp/dart-hf-engine.lock .venv/bin/python perf/bench_training.py [--model M]

Writes perf/results/bench_training.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pairs(n: int):  # noqa: ANN201
    """n real pairs, half GSM8K, half MATH (short solutions)."""
    from datasets import Dataset

    rows = []
    with open(DATA / "gsm8k" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({"query": r["question"], "response": r["answer"]})
            if len(rows) == n // 2:
                break
    with open(DATA / "math" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if len(r["solution"]) < 1500:
                rows.append({"query": r["problem"], "response": r["solution"]})
            if len(rows) == n:
                break
    return Dataset.from_list(rows)


def main() -> None:
    from dart_hf.training.train import TrainConfig, train

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="default: the embedded SmolLM2-135M")
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--max-length", type=int, default=1024)
    args = parser.parse_args()
    ds = pairs(args.rows)
    results = {}
    for packing, batch in ((False, 4), (True, 1)):
        config = TrainConfig(
            model=args.model,
            epochs=1,
            lr=5e-5,
            batch_size=batch,
            grad_accum=1,
            max_length=args.max_length,
            packing=packing,
            logging_steps=1,
        )
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            summary = train(ds, config, out, progress=False)
            wall = time.perf_counter() - start
        tokens = summary["data_stats"]["tokens"]
        results["packed" if packing else "unpacked"] = {
            "batch_size": batch,
            "sequences": summary["data_stats"]["sequences"],
            "steps": summary["steps"],
            "tokens": tokens,
            "train_wall_s": summary["wall_time_s"],
            "total_wall_s": round(wall, 1),
            "tokens_per_s": round(tokens / summary["wall_time_s"], 1),
        }
    results["ratio_packed_over_unpacked"] = round(
        results["packed"]["tokens_per_s"] / results["unpacked"]["tokens_per_s"], 2
    )
    results["rows"] = args.rows
    results["max_length"] = args.max_length
    results["load_avg_after"] = os.getloadavg()
    dest = Path(__file__).resolve().parent / "results" / "bench_training.json"
    dest.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
