"""A round as one stream against shard-by-shard calls: a labelled SIMULATION on the real code.

Not run in CI. The scripted engine with its timing model (`engines/timing.py`, parameters
fixed in `stream_timing.py` before the streaming code: 256 slots, one decode step per token
for every running sequence, prefill ignored, log-normal lengths with median 450 and sigma
1.0 capped at 2048, virtual time that advances only when no task can run) stands in for a
GPU engine. One difficulty round of a pool of synthetic queries goes through the real round
step (`rounds.advance`), executor (`LocalExecutor.sample`), sampling stage, journal and shard
files, twice: streamed (the default) and shard by shard (`stream: false`, one blocking call
per 64-query shard, today's path before the stream). Grading is not part of the simulated
time (the round source counts samples only).

Reported per pool size and samples per query: virtual decode steps of each path over the
ideal max(sum of lengths / 256, longest) (lengths read back from the shard files), the mean
share of the 256 slots in use, and the real seconds the run took here.

    .venv/bin/python perf/bench_stream.py [--queries 64,256,1024,4000] [--spq 4,16,64]

Writes perf/results/bench_stream.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stream_timing  # noqa: E402

from dart_hf.build import rounds
from dart_hf.config import DarsConfig, SamplingConfig, StreamConfig  # noqa: E402
from dart_hf.engines import EngineSpec, get_engine  # noqa: E402
from dart_hf.executors import ExecutorSpec, make_executor  # noqa: E402
from dart_hf.folders import BuildFolder  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHARD = 64


class SampleOnly:
    """A round source that samples through the executor and counts the samples (no grading:
    grading is not part of the simulated time)."""

    def __init__(self, queries: Any, folder: BuildFolder, spec: EngineSpec, stream: bool) -> None:
        self.queries, self.folder, self.spec, self.stream = queries, folder, spec, stream
        self.executor = make_executor(ExecutorSpec())
        self.sampling = SamplingConfig(n=1, temperature=1.0, max_tokens=4096, template="deepseekmath")

    def run(self, r: int, requests: np.ndarray, state: Any) -> rounds.Outcome | None:
        if not requests.any():
            return None
        todo = self.queries.add_column("n_samples", requests.tolist()).add_column(
            "sample_offset", state["samples"].tolist()
        )
        self.executor.sample(
            todo,
            self.folder.round(r),
            engine_spec=self.spec,
            sampling=self.sampling,
            round=r,
            seed=0,
            shard_size=SHARD,
            progress=False,
            stream=StreamConfig(stream=self.stream),
        )
        return rounds.Outcome(requests.copy(), np.zeros_like(requests))


def one_case(n: int, spq: int, stream: bool, work: Path) -> dict[str, Any]:
    from datasets import Dataset

    ids = [f"sim/{i}" for i in range(n)]
    queries = Dataset.from_dict(
        {
            "id": ids,
            "source": ["sim"] * n,
            "query": [f"What is {i} plus {i}?" for i in range(n)],
            "answer": [str(2 * i) for i in range(n)],
            "level": [1] * n,
        }
    )
    table = work / f"table-{n}.jsonl"  # one engine per table (the engine caches its rows)
    pairs = zip(queries["query"], queries["answer"], strict=True)
    table.write_text("".join(json.dumps({"query": q, "answer": a}) + "\n" for q, a in pairs))
    spec = EngineSpec(
        backend="scripted", model="timing-simulation", options=(("table", str(table)), ("timing", True))
    )
    engine = get_engine(spec)
    folder = BuildFolder(work / ("stream" if stream else "shards"))
    if folder.root.exists():
        shutil.rmtree(folder.root)
    cfg = DarsConfig(strategies=("uniform",), k_u=1, difficulty_samples=spq, max_trials=spq)
    state = rounds.start(ids, [1] * n, ["sim"] * n, cfg)
    steps0, busy0 = engine.totals["steps"], engine.totals["busy"]  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    rounds.advance(state, 0, cfg, rounds.phases(cfg), SampleOnly(queries, folder, spec, stream))
    wall = time.perf_counter() - t0
    steps = engine.totals["steps"] - steps0  # type: ignore[attr-defined]
    busy = engine.totals["busy"] - busy0  # type: ignore[attr-defined]
    import pyarrow.parquet as pq

    lengths = [
        int(x)
        for p in sorted(folder.round(0).path.glob("shard-*.parquet"))
        for x in pq.read_table(p, columns=["n_tokens"])["n_tokens"].to_pylist()
    ]
    assert len(lengths) == n * spq
    ideal = stream_timing.ideal(lengths)
    return {
        "queries": n,
        "samples_per_query": spq,
        "mode": "stream" if stream else "shards",
        "steps": steps,
        "ideal": ideal,
        "over_ideal": round(steps / ideal, 4),
        "slot_share": round(busy / (steps * stream_timing.SLOTS), 4) if steps else None,
        "wall_s": round(wall, 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| queries | samples/query | shard-by-shard / ideal | stream / ideal | slots in use "
        "(shards, stream) | real s (shards, stream) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    cases = sorted({(r["queries"], r["samples_per_query"]) for r in rows})
    for q, spq in cases:
        by = {r["mode"]: r for r in rows if (r["queries"], r["samples_per_query"]) == (q, spq)}
        s, t = by["shards"], by["stream"]
        out.append(
            f"| {q:,} | {spq} | {s['over_ideal']:.3f} | {t['over_ideal']:.3f} | "
            f"{s['slot_share']:.1%}, {t['slot_share']:.1%} | {s['wall_s']}, {t['wall_s']} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default="64,256,1024,4000")
    parser.add_argument("--spq", default="4,16,64")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    import datasets

    datasets.disable_progress_bars()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.queries.split(",")):
            for spq in map(int, args.spq.split(",")):
                for stream in (False, True):
                    row = one_case(n, spq, stream, Path(tmp))
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "bench_stream.json").write_text(json.dumps(rows, indent=1) + "\n")
        (RESULTS / "bench_stream.md").write_text(
            "# Round stream against shard-by-shard calls (a labelled simulation)\n\n"
            "Scripted engine with the timing model of `perf/stream_timing.py` (256 slots, "
            "log-normal lengths, median 450, sigma 1.0, cap 2048, virtual time), run through "
            "the real round step, executor, sampling stage and journal; 64 queries per shard. "
            "Expected for shard-by-shard at 1,024 queries: 3.2 / 1.6 / 1.15 x ideal at 4 / 16 "
            "/ 64 samples per query; goal for the stream there: within 1.05 x at 16 and 64.\n\n"
            f"{text}\n"
        )


if __name__ == "__main__":
    main()
