"""A labelled SIMULATION of an inference engine's timing, for the scripted engine.

The model (fixed in `perf/stream_timing.py` before the streaming code, and used by
`perf/bench_stream.py`): at most `slots` sequences run at once; a request waits for a
free slot (first come, first served) and then takes one decode step per token, every
running sequence advancing one token per step; prefill is ignored. A response's length is
log-normal (median `median`, sigma `sigma`, rounded, at least 1, capped at `cap`), drawn
from a hash of (seed, prompt, index), so a shard-by-shard run and a stream see the same
lengths. Time is virtual (decode steps): in a stream it advances only when no task of the
event loop can run, so results do not depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

SLOTS = 256
MEDIAN = 450
SIGMA = 1.0
CAP = 2048


@dataclass(frozen=True)
class TimingModel:
    """The simulated engine's parameters (defaults: `perf/stream_timing.py`'s)."""

    slots: int = SLOTS
    median: float = MEDIAN
    sigma: float = SIGMA
    cap: int = CAP

    def length(self, seed: int, prompt: str, index: int) -> int:
        """The simulated length of a response, in tokens (a pure function of its key)."""
        key = f"len|{seed}|{index}|{prompt}".encode()
        digest = hashlib.blake2b(key, digest_size=16).digest()
        u1 = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
        u2 = (int.from_bytes(digest[8:], "big") + 0.5) / 2**64
        z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)  # Box-Muller
        return int(min(max(round(math.exp(math.log(self.median) + self.sigma * z)), 1), self.cap))

    def makespan(self, lengths: Iterable[int]) -> tuple[int, int]:
        """(decode steps, slot-steps in use) to run these requests in order (one call)."""
        running: list[int] = []
        busy = 0
        for n in lengths:
            busy += n
            if len(running) < self.slots:
                heapq.heappush(running, n)
            else:
                heapq.heappush(running, heapq.heappop(running) + n)
        return (max(running) if running else 0), busy


class VirtualClock:
    """The simulated engine on one event loop: slots, a queue, and virtual time.

    `run(steps)` waits for a slot, then for `steps` decode steps, in virtual time. A driver
    task advances the clock only when every other task of the loop is blocked (the loop has
    nothing else ready to run), to the next completion.
    """

    def __init__(self, model: TimingModel, totals: dict[str, int] | None = None) -> None:
        self.model = model
        self.now = 0
        self.busy = 0  # slot-steps in use
        self.totals = totals if totals is not None else {"steps": 0, "busy": 0}
        self._running: list[tuple[int, int, asyncio.Future[None]]] = []
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    async def run(self, steps: int) -> None:
        """Occupy a slot for `steps` decode steps (virtual time)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if len(self._running) < self.model.slots:
            self._start(steps, fut)
        else:
            self._waiting.append((steps, fut))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await fut

    def _start(self, steps: int, fut: asyncio.Future[None]) -> None:
        heapq.heappush(self._running, (self.now + steps, next(self._order), fut))

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running:
            # let every other task of the loop run first (new requests, journal writes)
            while True:
                await asyncio.sleep(0)
                if not loop._ready:  # type: ignore[attr-defined]  # nothing else can run
                    break
            end = self._running[0][0]
            busy = (end - self.now) * len(self._running)
            self.totals["steps"] += end - self.now
            self.totals["busy"] += busy
            self.busy += busy
            self.now = end
            while self._running and self._running[0][0] == end:
                _, _, fut = heapq.heappop(self._running)
                if not fut.done():
                    fut.set_result(None)
                if self._waiting:
                    steps, waiter = self._waiting.popleft()
                    self._start(steps, waiter)
