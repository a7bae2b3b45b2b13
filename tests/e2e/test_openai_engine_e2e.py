"""The served-model engine in processes: without torch, vLLM or transformers installed, and
`serve.py`'s process handling (the fake server, `tests/fake_openai_server.py`, as the
process): health waits, early exits, timeouts, kill -9 of the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer

from dart_hf.engines.base import EngineSpec, GenerationParams
from dart_hf.engines.openai_engine import (
    OpenAIEngine,
)
from dart_hf.errors import DartError

FAKE = Path(__file__).resolve().parents[1] / "fake_openai_server.py"
PARAMS = GenerationParams(max_tokens=32, temperature=0.7, top_p=0.9, stop=("Question:",))


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and text
    return text


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


def test_runs_without_torch_vllm_or_transformers(server) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        for name in ("torch", "vllm", "transformers"):
            sys.modules[name] = None  # import fails as if not installed
        from dart_hf.engines import get_engine
        from dart_hf.engines.base import EngineSpec, GenerationParams
        from dart_hf.engines.connection import ServerConnection
        from dart_hf.sampling.prompts import render_prompt
        spec = EngineSpec(backend="openai", connection=ServerConnection(({server.base_url!r},)))
        engine = get_engine(spec)
        prompt = render_prompt("chat", "1+1?", tokenizer=engine.tokenizer)
        [[c]] = engine.generate([prompt], GenerationParams(max_tokens=8))
        assert c.finish_reason == "stop", c
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        print("ok", engine.provenance()["chat_template"])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok server"


def _fake_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, str(FAKE), "--port", str(port), *extra]


def _pids_alive(pids) -> list[int]:
    alive = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(p)
    return alive


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def test_launch_waits_for_health_and_stop_ends_the_group(tmp_path) -> None:
    from dart_hf.engines import serve

    port = serve.free_port()
    server = serve.launch(
        _fake_command(port, "--ready-after", "1", "--child"),
        base_url=f"http://127.0.0.1:{port}/v1",
        log_path=tmp_path / "server.log",
        served_model="fake/model",
        cpu=True,
        timeout_s=30,
    )
    try:
        assert server.startup_s >= 1 and server.alive()
        members = _group_members(server.process.pid)
        assert len(members) >= 2  # the server and its "engine core"
        engine = OpenAIEngine(EngineSpec(backend="openai", connection=server.connection()))
        assert engine.generate(["a"], PARAMS)[0][0].finish_reason == "stop"
        assert engine.connection.cpu_server and engine.default_max_in_flight == 32
    finally:
        server.stop(grace_s=5)
    deadline = time.monotonic() + 10
    while _pids_alive(members) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pids_alive(members)
    assert "==== " in (tmp_path / "server.log").read_text()


def test_launch_reports_an_early_exit_and_a_timeout(tmp_path) -> None:
    from dart_hf.engines import serve

    with pytest.raises(DartError) as err:
        serve.launch(
            [sys.executable, "-c", "raise SystemExit('ValueError: no such model folder')"],
            base_url="http://127.0.0.1:9/v1",
            log_path=tmp_path / "a.log",
            served_model="x",
        )
    text = one_line(err.value)
    assert "exited with 1 before it was ready" in text and "no such model folder" in text
    port = serve.free_port()
    start = time.monotonic()
    with pytest.raises(DartError, match="not ready within 2 s"):
        serve.launch(
            _fake_command(port, "--ready-after", "30"),
            base_url=f"http://127.0.0.1:{port}/v1",
            log_path=tmp_path / "b.log",
            served_model="x",
            timeout_s=2,
        )
    assert time.monotonic() - start < 15


def test_kill_9_of_the_command_leaves_no_server_process(tmp_path) -> None:
    """A command that started a server (and its grandchild) is killed with SIGKILL: the
    parent-death signal and the watchdog end the server's whole group."""
    script = tmp_path / "command.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            from dart_hf.engines import serve
            port = serve.free_port()
            server = serve.launch(
                [sys.executable, {str(FAKE)!r}, "--port", str(port), "--child"],
                base_url=f"http://127.0.0.1:{{port}}/v1",
                log_path=Path({str(tmp_path)!r}) / "server.log",
                served_model="fake/model",
            )
            print(server.process.pid, flush=True)
            time.sleep(600)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pid = int(command.stdout.readline())
        members = _group_members(pid)
        assert pid in members and len(members) >= 2
        time.sleep(1.5)  # let the watchdog see them once (it also covers unseen members)
        command.send_signal(signal.SIGKILL)
        command.wait(10)
        deadline = time.monotonic() + 15
        while _pids_alive(members) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _pids_alive(members)
    finally:
        command.kill()
        for p in _pids_alive(_group_members(pid) if "pid" in locals() else []):
            os.kill(p, signal.SIGKILL)
