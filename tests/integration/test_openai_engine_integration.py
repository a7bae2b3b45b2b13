"""The served-model engine with the embedded model's real tokenizer (against the fake server):
prompts are rendered by dart-hf and a second BOS is not sent."""

from __future__ import annotations

from fake_openai_server import FakeOpenAIServer

from dart_hf.engines.base import EngineSpec, GenerationParams
from dart_hf.engines.connection import (
    ServerConnection,
)
from dart_hf.engines.openai_engine import (
    OpenAIEngine,
)
from dart_hf.sampling.prompts import render_prompt

PARAMS = GenerationParams(max_tokens=32, temperature=0.7, top_p=0.9, stop=("Question:",))
FAST = {"request_retries": 4, "retry_max_s": 30.0}


def engine_for(*servers, model=None, options=(), **conn):
    urls = tuple(s if isinstance(s, str) else s.base_url for s in servers)
    settings = {**FAST, **conn}
    spec = EngineSpec(
        backend="openai",
        model=model,
        options=tuple(sorted(dict(options).items())),
        connection=ServerConnection(urls, **settings),
    )
    return OpenAIEngine(spec)


def test_local_tokenizer_renders_chat_and_skips_a_second_bos() -> None:
    from dart_hf.engines.models import resolve_model

    folder = resolve_model(None).path  # the embedded model's converted folder
    with FakeOpenAIServer(models=[{"id": "smol", "root": folder, "max_model_len": 2048}]) as srv:
        engine = engine_for(srv)
        assert not engine.server_renders_chat
        prompt = render_prompt("chat", "What is 1+1?", tokenizer=engine.tokenizer)
        assert prompt.startswith(engine.tokenizer.bos_token)
        engine.generate([prompt], PARAMS)
        body = srv.completion_requests()[0]
    assert srv.paths[-1] == "/v1/completions" and body["prompt"] == prompt
    assert body["add_special_tokens"] is False
    assert engine.count_tokens("one two three") == len(
        engine.tokenizer.encode("one two three", add_special_tokens=False)
    )
    assert engine.provenance()["chat_template"] == "dart-hf"
