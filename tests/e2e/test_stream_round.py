"""A round as one stream, end to end on the scripted engine (a labelled simulation): the cap
on requests in flight, the journal across a kill, grading that overlaps generation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dart_hf.config import GradeConfig, SamplingConfig, StreamConfig
from dart_hf.engines import EngineSpec
from dart_hf.executors import ExecutorSpec, make_executor
from dart_hf.folders import RoundFolder, SamplingFolder
from dart_hf.grading import grade as grading
from dart_hf.sampling import shards as sampling
from dart_hf.sources import load_pool

REPO = Path(__file__).resolve().parents[2]
CFG = SamplingConfig(n=1, temperature=1.0, max_tokens=4096, template="deepseekmath")


def _table(tmp_path: Path, limit: int) -> tuple[Path, object]:
    queries = load_pool("gsm8k", limit=limit)
    table = tmp_path / "table.jsonl"
    table.write_text(
        "".join(
            json.dumps({"query": q, "answer": a}) + "\n"
            for q, a in zip(queries["query"], queries["answer"], strict=True)
        )
    )
    return table, queries


def _spec(table: Path, **options: object) -> EngineSpec:
    return EngineSpec(backend="scripted", options=tuple(sorted({"table": str(table), **options}.items())))


def test_the_stream_caps_requests_in_flight_and_equals_the_shard_path(tmp_path: Path) -> None:
    table, queries = _table(tmp_path, 10)
    todo = queries.add_column("n_samples", [3, 0, 5, 1, 2, 4, 6, 1, 1, 2])
    todo = todo.add_column("sample_offset", [2] * 10)
    spec = _spec(table, delay_s=0.01)
    figures: dict = {}
    streamed = sampling.run_sampling(
        todo,
        tmp_path / "s",
        engine_spec=spec,
        sampling=CFG,
        round=1,
        seed=3,
        shard_size=4,
        progress=False,
        max_in_flight=3,
        figures=figures,
    )
    assert figures["max_in_flight"] == 3 and figures["peak_in_flight"] == 3  # full, never over
    assert figures["requests"] == 25 and figures["seeding"] == "per request"
    assert figures["engine_idle_s"] >= 0
    blocking = sampling.run_sampling(
        todo,
        tmp_path / "b",
        engine_spec=spec,
        sampling=CFG,
        round=1,
        seed=3,
        shard_size=4,
        progress=False,
        stream=False,
    )
    assert streamed.to_list() == blocking.to_list()
    for k in range(3):  # the same shard files, byte for byte
        a, b = SamplingFolder(tmp_path / "s"), SamplingFolder(tmp_path / "b")
        assert a.shard(k).read_bytes() == b.shard(k).read_bytes()
    assert not SamplingFolder(tmp_path / "s").journals()  # removed once the shards are written


def _sample_cmd(out: Path, recipe: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dart_hf",
        "sample",
        "--pool",
        "gsm8k",
        "--limit",
        "12",
        "--engine",
        "scripted",
        "--config",
        str(recipe),
        "--n",
        "8",
        "--shard-size",
        "4",
        "--max-in-flight",
        "4",
        "--template",
        "deepseekmath",
        "--max-tokens",
        "2048",
        "-q",
        "-o",
        str(out),
    ]


def _keys(log: Path) -> list[tuple]:
    if not log.is_file():
        return []
    return [tuple(json.loads(x)["key"]) for x in log.read_text().splitlines() if x.strip()]


def test_a_kill_mid_round_resends_at_most_max_in_flight(tmp_path: Path) -> None:
    table, _ = _table(tmp_path, 12)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")

    def recipe(name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        log = str(tmp_path / f"{name}.log")
        options = {"table": str(table), "delay_s": 0.05, "request_log": log}
        path.write_text(yaml.safe_dump({"engine_options": options}))
        return path

    whole = subprocess.run(
        _sample_cmd(tmp_path / "whole", recipe("whole")), env=env, capture_output=True, text=True, cwd=REPO
    )
    assert whole.returncode == 0, whole.stderr[-2000:]
    log = tmp_path / "killed.log"
    cmd = _sample_cmd(tmp_path / "out", recipe("killed"))
    proc = subprocess.Popen(
        cmd, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while len(_keys(log)) < 40:  # well into the round: some shards done, some journaled
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended early"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = set(_keys(log))
    folder = SamplingFolder(tmp_path / "out")
    assert folder.journals(), "the kill left no journal: nothing in the middle of a shard"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    after = _keys(log)[len(before) :]
    again = set(after) & before
    assert len(again) <= 4, f"{len(again)} requests sent twice"  # at most what was in flight
    assert len(before | set(after)) == 96 and len(after) == len(set(after))
    whole_folder = SamplingFolder(tmp_path / "whole")
    for k in range(3):  # the result equals an uninterrupted run, byte for byte
        assert folder.shard(k).read_bytes() == whole_folder.shard(k).read_bytes()
    assert not folder.journals()


@pytest.mark.parametrize("kind", ["local"])
def test_grading_of_a_finished_shard_starts_before_the_last_shard_is_generated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    table, queries = _table(tmp_path, 12)
    todo = queries.add_column("n_samples", [4] * 12).add_column("sample_offset", [0] * 12)
    calls: list[float] = []
    real = grading.grade_dataset

    def recorded(ds, config, **kw):  # type: ignore[no-untyped-def]
        calls.append(time.time())
        return real(ds, config, **kw)

    monkeypatch.setattr(grading, "grade_dataset", recorded)
    folder = RoundFolder(tmp_path / "round-000", 0)
    run = make_executor(ExecutorSpec(kind=kind)).run_round(
        todo,
        folder,
        engine_spec=_spec(table, delay_s=0.05),
        sampling=CFG,
        round=0,
        seed=1,
        shard_size=2,
        grade=GradeConfig(num_proc=1),
        progress=False,
        stream=StreamConfig(max_in_flight=2, overlap_grading=True),
    )
    assert len(run.graded) == 48 and run.figures["overlap"] is True
    last_shard = max(folder.shard(k).stat().st_mtime for k in range(6))
    assert len(calls) == 6 and min(calls) < last_shard  # graded while others generated
    assert run.figures["grading_wait_s"] >= 0
    assert [r["id"] for r in run.graded] == [i for i in todo["id"] for _ in range(4)]
