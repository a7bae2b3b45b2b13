"""The engine's stream: requests in flight capped, completions awaited, idle time measured.

One `Streamer` per engine spec per process (`get_streamer`). It serves every event loop
and thread of the process (a round's `Dataset.map` runs its own loop; a Ray engine actor
runs each shard call in its own thread with its own loop), so its cap on the requests in
flight (`max_in_flight`) is a cross-thread counter whose waiters are asyncio futures woken
on their own loops. An engine whose `stream_loop` is "own" (it holds loop-bound objects,
such as an HTTP client) runs its `complete` on a private loop in a thread of its own; a
"caller" engine runs it on the caller's loop.

While a stream is open (`open_round` .. `close_round`), the streamer measures
`engine_idle_s`: wall time during which the engine had free slots (fewer than
`max_in_flight` requests in flight) and no request was waiting to be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dart_hf.engines import get_engine
from dart_hf.engines.base import Completion, EngineSpec, Request
from dart_hf.errors import DartError


class InFlight:
    """A cap on requests in flight shared by every loop and thread of the process.

    `acquire` waits (first come, first served) until fewer than `limit` are in flight. It
    also measures the time the cap was not reached while nobody waited (idle capacity).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise DartError(f"max_in_flight must be >= 1, got {limit}")
        self.limit = limit
        self.count = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._open = 0  # streams open (time counts only while one is)
        self._since: float | None = None  # start of the current idle stretch
        self.idle_s = 0.0

    def _mark(self) -> None:
        """Account the idle stretch up to now and start or end one (lock held)."""
        now = time.monotonic()
        if self._since is not None:
            self.idle_s += now - self._since
        idle = self._open > 0 and self.count < self.limit and not self._waiters
        self._since = now if idle else None

    def open(self) -> None:
        """A stream starts: idle time counts from now."""
        with self._lock:
            self._open += 1
            self._mark()

    def close(self) -> None:
        """A stream ends."""
        with self._lock:
            self._open = max(self._open - 1, 0)
            self._mark()

    async def acquire(self) -> None:
        """Wait for room for one more request."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.count < self.limit and not self._waiters:
                self.count += 1
                self.peak = max(self.peak, self.count)
                self._mark()
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, fut))
            self._mark()
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                if fut.done() and not fut.cancelled():  # granted as we were cancelled
                    self._release_locked()
                with contextlib.suppress(ValueError):
                    self._waiters.remove((loop, fut))
                self._mark()
            raise

    def release(self) -> None:
        """A request finished: hand its room to the first waiter, if any."""
        with self._lock:
            self._release_locked()
            self._mark()

    def _release_locked(self) -> None:
        while self._waiters:
            loop, fut = self._waiters.popleft()
            if fut.done():
                continue
            try:
                loop.call_soon_threadsafe(_grant, fut)
            except RuntimeError:  # that loop is closed: its waiter is gone
                continue
            return  # the room passes on: the count stays
        self.count -= 1


def _grant(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass
class StreamFigures:
    """What one stream (a round's sampling) measured.

    Attributes:
        max_in_flight: The cap on requests in flight.
        requests: Requests sent to the engine.
        peak_in_flight: The most requests in flight at once.
        engine_idle_s: Wall time with free slots and no request waiting (see module).
        slot_share: Mean share of the engine's slots in use, where the engine reports it.
        seeding: How the engine was seeded ("per round", "per request" or "not seeded").
        served: What a served model's server reported (`served_details` of the engine:
            served id, root, max_model_len, server and version, who applies the chat template);
            None for in-process engines.
    """

    max_in_flight: int
    requests: int = 0
    peak_in_flight: int = 0
    engine_idle_s: float = 0.0
    slot_share: float | None = None
    seeding: str = "per request"
    served: dict[str, str] | None = None


class Streamer:
    """One engine's stream in this process (see the module docstring)."""

    def __init__(self, spec: EngineSpec, max_in_flight: int | None = None) -> None:
        self.spec = spec
        self.engine = get_engine(spec)
        limit = max_in_flight or int(getattr(self.engine, "default_max_in_flight", 64))
        self.in_flight = InFlight(limit)
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def streams(self) -> bool:
        """Whether the engine takes requests one at a time (else it keeps its batches)."""
        return callable(getattr(self.engine, "complete", None))

    @property
    def seeding(self) -> str:
        """How the engine is seeded: "per round" (vLLM) or "per request"."""
        return str(getattr(self.engine, "seeding", "per request"))

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"dart-hf-{self.spec.backend}", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def complete(self, request: Request) -> Completion:
        """Send one request when there is room in flight and await its completion."""
        await self.in_flight.acquire()
        try:
            self.requests += 1
            engine: Any = self.engine
            if getattr(engine, "stream_loop", "caller") == "own":
                fut = asyncio.run_coroutine_threadsafe(engine.complete(request), self._own_loop())
                return await asyncio.wrap_future(fut)
            return await engine.complete(request)  # type: ignore[no-any-return]
        finally:
            self.in_flight.release()

    @contextlib.contextmanager
    def round(self, seed: int) -> Iterator[StreamFigures]:
        """A stream is open: the engine is seeded for it (per-round engines) and its idle
        time measured; the figures are filled in when the block ends."""
        begin: Callable[[int], Any] | None = getattr(self.engine, "begin_round", None)
        if begin is not None:
            begin(seed)
        details: Callable[[], dict[str, str]] | None = getattr(self.engine, "served_details", None)
        figures = StreamFigures(
            max_in_flight=self.in_flight.limit,
            seeding=self.seeding,
            served=details() if details is not None else None,
        )
        idle0, requests0 = self.in_flight.idle_s, self.requests
        occupancy = getattr(self.engine, "occupancy_counters", None)
        before = occupancy() if occupancy else None
        self.in_flight.peak = self.in_flight.count
        self.in_flight.open()
        try:
            yield figures
        finally:
            self.in_flight.close()
            figures.engine_idle_s = round(self.in_flight.idle_s - idle0, 3)
            figures.requests = self.requests - requests0
            figures.peak_in_flight = self.in_flight.peak
            after = occupancy() if occupancy else None
            if before is not None and after is not None:
                steps, busy, slots = after[0] - before[0], after[1] - before[1], after[2]
                figures.slot_share = round(busy / (steps * slots), 4) if steps else None

    def close(self) -> None:
        """Stop the private loop, if one was started."""
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=5)
                self._loop = None


_STREAMERS: dict[tuple[EngineSpec, int | None], Streamer] = {}
_STREAMERS_LOCK = threading.Lock()


def get_streamer(spec: EngineSpec, max_in_flight: int | None = None) -> Streamer:
    """This process's streamer for an engine spec and cap (built on first use)."""
    key = (spec, max_in_flight)
    with _STREAMERS_LOCK:
        streamer = _STREAMERS.get(key)
        if streamer is None:
            streamer = _STREAMERS[key] = Streamer(spec, max_in_flight)
        return streamer


def release_streamers() -> None:
    """Close every streamer of this process (their engines stay: `engines.release_engines`)."""
    with _STREAMERS_LOCK:
        for streamer in _STREAMERS.values():
            streamer.close()
        _STREAMERS.clear()
