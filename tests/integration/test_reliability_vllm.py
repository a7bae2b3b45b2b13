"""Reliability on the real vLLM engine (issue 27.8, 27.14): its processes die with the
command, even with the watchdog gone, and Ctrl-C while it starts is one line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import gone, session_processes, watchdogs_of

REPO = Path(__file__).resolve().parents[2]


def _start_vllm_sample(tmp_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dart_hf",
            "sample",
            "--pool",
            "gsm8k",
            "--limit",
            "2",
            "--max-tokens",
            "16",
            "-o",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    until = time.time() + 400
    while time.time() < until and proc.poll() is None:  # EngineCore and its Worker are up
        if (
            sum(
                "--multiprocessing-fork" in c or "EngineCore" in c or "VLLM" in c
                for _, c in session_processes(proc.pid)
            )
            >= 2
        ):
            return proc
        time.sleep(0.5)
    proc.kill()
    pytest.fail(f"vLLM did not start its engine processes: {proc.communicate()[0][-2000:]}")


def test_vllm_engine_processes_die_with_the_command_without_the_watchdog(tmp_path: Path) -> None:
    """Issue 27.8 on the real engine: watchdog killed first, then kill -9 of `dart-hf sample`
    while vLLM starts: EngineCore, its Worker and the resource tracker outlived it."""
    pytest.importorskip("vllm")
    proc = _start_vllm_sample(tmp_path)
    try:
        for dog in watchdogs_of(proc.pid):
            os.kill(dog, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = session_processes(proc.pid)
        assert gone([p for p, _ in left], within_s=10), session_processes(proc.pid)
    finally:
        for p, _ in session_processes(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


def test_ctrl_c_while_vllm_starts_is_one_line_and_leaves_no_process(tmp_path: Path) -> None:
    """Issue 27.14: Ctrl-C while vLLM starts printed a long traceback, or (vLLM swallows the
    interrupt in its start-up handshake) hung for up to 600 s."""
    pytest.importorskip("vllm")
    proc = _start_vllm_sample(tmp_path)
    try:
        t0 = time.time()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        output = proc.communicate(timeout=120)[0]
        assert time.time() - t0 < 60
        assert proc.returncode == 1 and "Traceback" not in output, output[-3000:]
        assert output.rstrip().endswith("Aborted!"), output[-3000:]
        left = session_processes(proc.pid)
        assert gone([p for p, _ in left], within_s=10), session_processes(proc.pid)
    finally:
        for p, _ in [(proc.pid, ""), *session_processes(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
