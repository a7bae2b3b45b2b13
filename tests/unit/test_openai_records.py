"""What a served model leaves in the records: how its requests were seeded, and what its
server reported (served id, root, max_model_len, version), never the URL."""

from __future__ import annotations

from fake_openai_server import FakeOpenAIServer

from dart_hf.engines.base import EngineSpec
from dart_hf.engines.connection import ServerConnection
from dart_hf.engines.openai_engine import OpenAIEngine
from dart_hf.sampling.shards import seeding_of


def test_requests_are_not_seeded_unless_asked() -> None:
    spec = EngineSpec(backend="openai")
    assert seeding_of(spec) == "not seeded"
    seeded = EngineSpec(backend="openai", options=(("request_seeds", True),))
    assert seeding_of(seeded) == "per request"
    assert seeding_of(EngineSpec(backend="vllm")) == "per round"


def test_served_details_are_what_the_server_reported() -> None:
    models = [{"id": "org/served", "root": "/models/served", "max_model_len": 4096}]
    with FakeOpenAIServer(models=models) as srv, FakeOpenAIServer(models=models) as other:
        spec = EngineSpec(backend="openai", connection=ServerConnection((srv.base_url, other.base_url)))
        engine = OpenAIEngine(spec)
        details = engine.served_details()
    assert details == {
        "served id": "org/served",
        "root": "/models/served",
        "max_model_len": "4096",
        "server": "vllm 0.0.0-fake",
        "chat template applied by": "the server (no local tokenizer)",
        "servers": "2",
    }
    assert engine.seeding == "not seeded"
    assert not any(srv.base_url in v or "127.0.0.1" in v for v in details.values())
