"""The round stream's parts: the cross-thread in-flight cap, the journal, the timing model."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

import pytest

from dart_hf.engines.base import Completion, EngineSpec, GenerationParams, Request
from dart_hf.engines.timing import TimingModel, VirtualClock
from dart_hf.errors import DartError
from dart_hf.sampling.journal import Journal
from dart_hf.sampling.stream import InFlight

REPO = Path(__file__).resolve().parents[2]


def test_in_flight_cap_holds_across_threads_and_loops() -> None:
    cap = InFlight(3)
    now = [0]
    peak = [0]
    lock = threading.Lock()

    async def one(delay: float) -> None:
        await cap.acquire()
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        await asyncio.sleep(delay)
        with lock:
            now[0] -= 1
        cap.release()

    async def many(n: int) -> None:
        await asyncio.gather(*(one(0.001 * (i % 4)) for i in range(n)))

    threads = [threading.Thread(target=asyncio.run, args=(many(40),)) for _ in range(3)]
    cap.open()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    cap.close()
    assert peak[0] == 3 and cap.peak == 3
    assert cap.count == 0 and not cap._waiters


def test_in_flight_waiters_are_served_first_come_first_served() -> None:
    cap = InFlight(1)
    order: list[int] = []

    async def run() -> None:
        await cap.acquire()  # held: the others queue

        async def waiter(i: int) -> None:
            await cap.acquire()
            order.append(i)
            cap.release()

        tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
        await asyncio.sleep(0.01)
        cap.release()
        await asyncio.gather(*tasks)

    asyncio.run(run())
    assert order == [0, 1, 2, 3, 4]


def test_a_cancelled_waiter_gives_its_room_on() -> None:
    cap = InFlight(1)

    async def run() -> None:
        await cap.acquire()
        t = asyncio.create_task(cap.acquire())
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        cap.release()
        await asyncio.wait_for(cap.acquire(), 1)  # not lost to the cancelled waiter
        cap.release()

    asyncio.run(run())
    assert cap.count == 0


def test_idle_time_counts_only_with_free_room_and_nobody_waiting() -> None:
    cap = InFlight(1)

    async def run() -> None:
        cap.open()
        await asyncio.sleep(0.05)  # open, nothing in flight: idle
        await cap.acquire()
        await asyncio.sleep(0.05)  # full: not idle
        cap.release()
        cap.close()
        await asyncio.sleep(0.05)  # closed: not counted

    asyncio.run(run())
    assert 0.04 <= cap.idle_s < 0.09


def test_in_flight_needs_a_positive_cap() -> None:
    with pytest.raises(DartError, match="max_in_flight must be >= 1"):
        InFlight(0)


def test_journal_keeps_the_first_line_per_key_and_skips_what_a_kill_cut(tmp_path: Path) -> None:
    path = tmp_path / "journal-00000.jsonl"
    j = Journal(path)
    j.write(("q", 1, 0), Completion("first", "stop", 3))
    j.write(("q", 1, 1), Completion("x", "error", 0, "bad request"))
    j.write(("q", 1, 0), Completion("again", "stop", 4))  # a replayed duplicate
    j.close()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"id": "q", "round": 1, "sample_idx": 2, "resp')  # cut short by a kill
    done = Journal(path).read()
    assert done == {
        ("q", 1, 0): Completion("first", "stop", 3),
        ("q", 1, 1): Completion("x", "error", 0, "bad request"),
    }
    j2 = Journal(path)  # appending after a cut line starts a line of its own
    j2.write(("q", 1, 2), Completion("late", "length", 5))
    j2.close()
    assert Journal(path).read()[("q", 1, 2)] == Completion("late", "length", 5)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["sample_idx"] == 2
    Journal(path).remove()
    assert not path.exists() and Journal(path).read() == {}


def test_journal_skips_an_unreadable_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(
        'not json\n{"id": "a", "round": 0, "sample_idx": 0, "response": "r", '
        '"finish_reason": "stop", "n_tokens": 1}\n'
    )
    assert list(Journal(path).read()) == [("a", 0, 0)]


def test_timing_model_is_the_committed_one() -> None:
    sys.path.insert(0, str(REPO / "perf"))
    import stream_timing

    model = TimingModel()
    assert (model.slots, model.median, model.sigma, model.cap) == (
        stream_timing.SLOTS,
        stream_timing.MEDIAN,
        stream_timing.SIGMA,
        stream_timing.CAP,
    )
    keys = [(s, f"prompt {p}", i) for s in (0, 7) for p in range(20) for i in range(8)]
    assert [model.length(*k) for k in keys] == [stream_timing.length(*k) for k in keys]
    lens = [model.length(*k) for k in keys]
    assert model.makespan(lens)[0] == stream_timing.makespan(lens)
    assert max(lens) <= 2048 and min(lens) >= 1


def test_virtual_clock_runs_slots_in_decode_steps() -> None:
    model = TimingModel(slots=2)
    clock = VirtualClock(model)
    ends: dict[int, int] = {}

    async def one(i: int, steps: int) -> None:
        await clock.run(steps)
        ends[i] = clock.now

    async def run() -> None:
        await asyncio.gather(one(0, 5), one(1, 3), one(2, 4), one(3, 1))

    asyncio.run(run())
    # slots: 0 runs 0-5, 1 runs 0-3; 2 takes 1's slot at 3 (ends 7); 3 takes 0's at 5 (ends 6)
    assert ends == {0: 5, 1: 3, 2: 7, 3: 6}
    assert clock.now == 7 == model.makespan([5, 3, 4, 1])[0]
    assert clock.busy == 5 + 3 + 4 + 1  # slot-steps in use


def test_scripted_stream_equals_its_blocking_calls(tmp_path: Path) -> None:
    from dart_hf.engines.scripted import ScriptedEngine

    table = tmp_path / "t.jsonl"
    table.write_text(json.dumps({"query": "What is 2+2?", "answer": "4", "level": 1}) + "\n")
    for timing in (False, True):
        spec = EngineSpec(backend="scripted", options=(("table", str(table)), ("timing", timing)))
        engine = ScriptedEngine(spec)
        params = GenerationParams(temperature=1.0, max_tokens=600, seed=11)
        blocking = engine.generate(["Q: What is 2+2?"], params, n=[6])[0]

        async def streamed(e: ScriptedEngine = engine, p: GenerationParams = params) -> list:
            reqs = [Request(("q", 0, i), "Q: What is 2+2?", p, 11, i) for i in range(6)]
            return list(await asyncio.gather(*(e.complete(r) for r in reqs)))

        assert asyncio.run(streamed()) == blocking
        if timing:  # the model's lengths, capped by max_tokens (then finish reason length)
            assert all(c.n_tokens <= 600 for c in blocking)
            assert {c.finish_reason for c in blocking if c.n_tokens == 600} <= {"length"}


def test_stream_stats_sum_the_rounds_metas() -> None:
    from dart_hf.build.stats import StreamStats

    metas = [
        {"round": 0, "raw_samples": 10},  # no stream figures (recorded by no stream)
        {
            "round": 1,
            "max_in_flight": 8,
            "requests": 30,
            "engine_idle_s": 1.5,
            "slot_share": 0.5,
            "seeding": "per round",
            "overlap": True,
            "grading_wait_s": 2.0,
        },
        {
            "round": 2,
            "max_in_flight": 8,
            "requests": 10,
            "engine_idle_s": 0.5,
            "slot_share": 0.9,
            "seeding": "per round",
            "overlap": True,
            "grading_wait_s": 1.0,
        },
    ]
    s = StreamStats.from_metas(metas)
    assert s is not None
    assert (s.max_in_flight, s.seeding, s.requests, s.overlap) == (8, "per round", 40, True)
    assert (s.engine_idle_s, s.grading_wait_s) == (2.0, 3.0)
    assert s.slot_share == round((0.5 * 30 + 0.9 * 10) / 40, 4)  # weighted by requests
    assert StreamStats.from_metas(metas[:1]) is None
    mixed = [{**metas[1], "overlap": False}, metas[2]]
    assert StreamStats.from_metas(mixed).overlap is None  # type: ignore[union-attr]
