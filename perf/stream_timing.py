"""The timing model of the round-stream simulation (issue 23), fixed before the streaming code.

A labelled simulation of an inference engine on a GPU, where a decode step costs about the
same for 1 or 256 running sequences:

- at most `SLOTS` (256) sequences run at once; a request waits for a free slot (first come,
  first served) and then runs one decode step per token, every running sequence advancing
  one token per step; prefill is ignored;
- a response's length is log-normal with median `MEDIAN` (450) tokens and sigma `SIGMA`
  (1.0), rounded, at least 1, capped at `CAP` (2048) tokens (a capped one ends with
  finish reason `length`), drawn from a hash of (seed, prompt, index), so that the
  shard-by-shard path and the stream see the same length for the same request;
- time is virtual: it advances only when no client task can run, so results do not depend
  on this machine's load.

The ideal time of a round is max(sum of lengths / SLOTS, longest). The scripted engine
carries this model (option `timing: true`); `bench_stream.py` runs the real sampling stage,
journal, executor and round step against it. This file's own check (below) is the model
alone, by list scheduling: shard-by-shard blocking calls over ideal should be within 5% of
3.2 / 1.6 / 1.15 at 4 / 16 / 64 samples per query (1,024 queries, 64 per shard); if not, the
model is wrong, not the code.

    .venv/bin/python perf/stream_timing.py
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable

SLOTS = 256
MEDIAN = 450
SIGMA = 1.0
CAP = 2048
EXPECTED_SHARD_RATIO = {4: 3.2, 16: 1.6, 64: 1.15}
"""Shard-by-shard time over ideal, 1,024 queries, 64 queries per shard (the issue's figures)."""


def length(seed: int, prompt: str, index: int) -> int:
    """The simulated length of a response, in tokens (a pure function of its key)."""
    digest = hashlib.blake2b(f"len|{seed}|{index}|{prompt}".encode(), digest_size=16).digest()
    u1 = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    u2 = (int.from_bytes(digest[8:], "big") + 0.5) / 2**64
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)  # Box-Muller
    return int(min(max(round(math.exp(math.log(MEDIAN) + SIGMA * z)), 1), CAP))


def makespan(lengths: Iterable[int], slots: int = SLOTS) -> int:
    """Decode steps to run these requests in order on `slots` slots (continuous batching)."""
    running: list[int] = []  # end times
    for n in lengths:
        if len(running) < slots:
            heapq.heappush(running, n)
        else:
            heapq.heappush(running, heapq.heappop(running) + n)
    return max(running) if running else 0


def ideal(lengths: list[int], slots: int = SLOTS) -> float:
    """The ideal time of a round: max(sum of lengths / slots, longest)."""
    return max(sum(lengths) / slots, max(lengths, default=0))


def check(queries: int = 1024, per_shard: int = 64) -> dict[int, tuple[float, float]]:
    """(shard-by-shard, one stream) over ideal per samples-per-query, by list scheduling."""
    out = {}
    for spq in EXPECTED_SHARD_RATIO:
        lens = [length(0, f"query {q}", i) for q in range(queries) for i in range(spq)]
        block = per_shard * spq
        shards = sum(makespan(lens[i : i + block]) for i in range(0, len(lens), block))
        out[spq] = (shards / ideal(lens), makespan(lens) / ideal(lens))
    return out


if __name__ == "__main__":
    print("samples/query  shard-by-shard/ideal (expected)  stream/ideal")
    for spq, (shard, stream) in check().items():
        want = EXPECTED_SHARD_RATIO[spq]
        ok = "ok" if abs(shard / want - 1) <= 0.05 else "OFF BY MORE THAN 5%"
        print(f"{spq:>13}  {shard:>8.3f} ({want}, {ok}){'':>8}  {stream:.3f}")
