"""Builds and samples through the served-model engine against the in-repo fake server (a
stdlib stand-in for control logic: the real server is in tests/integration): failed
requests are not counted, a kill resends at most what was in flight."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from datasets import load_dataset

from dart_hf import dars
from dart_hf.build import run as build
from dart_hf.folders import BuildFolder, SamplingFolder

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from fake_openai_server import FakeOpenAIServer, Fault  # noqa: E402


def test_failed_requests_are_neither_graded_nor_counted(tmp_path: Path) -> None:
    count = itertools.count(1)
    lock = threading.Lock()

    def every_seventh(body: dict) -> Fault | None:
        with lock:
            k = next(count)
        return Fault(status=400, message="prompt is too long") if k % 7 == 0 else None

    with FakeOpenAIServer() as srv:
        srv.fault_for = every_seventh
        settings = {
            "engine": "openai",
            "base_url": [srv.base_url],
            "pool": ["gsm8k"],
            "limit": 4,
            "template": "deepseekmath",
            "temperature": 1.0,
            "max_tokens": 64,
            "strategies": ["uniform"],
            "k_u": 2,
            "max_trials": 12,
            "difficulty_samples": 4,
            "round_cap": 4,
            "shard_size": 2,
            "num_proc": 1,
            "decontaminate": False,
            "max_in_flight": 3,
        }
        out = tmp_path / "b"
        result = build.run_build(build.resolve_settings({}, settings), out)
    folder = BuildFolder(out)
    state = dars.load_state(folder.state(folder.last_round()))
    failed = int(state["failed"].sum())
    assert failed > 0
    assert (state["samples"] <= 12).all()  # max_trials counts completions only
    pool = load_dataset(str(out / "releases" / "dart-math-pool"), "samples", split="train")
    statuses = pool["grade_status"]
    assert statuses.count("failed") == failed == result.stats.totals.failed_requests
    assert len(pool) == int(state["samples"].sum()) + failed
    for row in pool:
        if row["grade_status"] == "failed":
            assert row["drop_reason"] == "failed" and row["correct"] is None
            assert row["finish_reason"] == "error"
    keys = list(zip(pool["id"], pool["sample_idx"], strict=True))
    assert len(set(keys)) == len(keys)  # a failed request used its sample_idx
    per_query = {q: int(n) for q, n in zip(state["id"], state["samples"], strict=True)}
    for q in per_query:
        done = [r for r in pool if r["id"] == q and r["grade_status"] != "failed"]
        assert len(done) == per_query[q]
    card = (out / "releases" / "dart-math-uniform" / "README.md").read_text()
    assert f"| failed requests (no completion: not graded, not counted as samples) | {failed} |" in card
    assert np.isfinite(result.stats.totals.raw_samples)
    # what the server reported is in the records and the cards; its URL is in neither
    served = result.stats.stream.served  # type: ignore[union-attr]
    assert served["served id"] == "fake/model" and served["chat template applied by"].startswith("the server")
    assert "| served model | served id `fake/model`; root `" in card
    assert "not seeded (the server's own randomness)" in card
    assert srv.base_url.split("//")[1] not in card


def _sample_cmd(url: str, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dart_hf",
        "sample",
        "--base-url",
        url,
        "--pool",
        "gsm8k",
        "--limit",
        "10",
        "--n",
        "6",
        "--shard-size",
        "2",
        "--template",
        "deepseekmath",
        "--max-tokens",
        "64",
        "--max-in-flight",
        "4",
        "-q",
        "-o",
        str(out),
    ]


def test_a_killed_sample_resends_at_most_max_in_flight(tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    with FakeOpenAIServer(delay_s=0.05) as srv:
        proc = subprocess.Popen(
            _sample_cmd(srv.base_url, tmp_path / "s"),
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while len(srv.completion_requests()) < 30:
            assert proc.poll() is None and time.monotonic() < deadline, "it ended early"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.3)  # requests the kill cut off still reach the server
        before = len(srv.completion_requests())
        done = subprocess.run(
            _sample_cmd(srv.base_url, tmp_path / "s"), env=env, cwd=REPO, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        total = len(srv.completion_requests())
    assert 60 <= total <= 60 + 4  # 10 queries x 6 samples; at most the 4 in flight again
    assert srv.max_in_flight <= 4
    folder = SamplingFolder(tmp_path / "s")
    assert len(folder.shards()) == 5 and not folder.journals()
    assert before < total
