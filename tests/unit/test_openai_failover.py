"""Several base URLs, one of them gone: its requests go to the servers that answer.

Found by the suite under load: an unreachable server has nothing in flight, so least-loaded
picked it again and again, and a request spent its retries on it while another server was
serving. Control logic, against the in-repo fake server (threads, no process)."""

from __future__ import annotations

import pytest
from fake_openai_server import FakeOpenAIServer

from dart_hf.engines.base import EngineSpec, GenerationParams
from dart_hf.engines.connection import ServerConnection
from dart_hf.engines.openai_engine import OpenAIEngine

PARAMS = GenerationParams(max_tokens=8, temperature=0.7)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from dart_hf.engines import openai_engine

    monkeypatch.setattr(openai_engine, "BACKOFF_BASE_S", 0.02)


def _engine(*urls: str, **conn: object) -> OpenAIEngine:
    connection = ServerConnection(tuple(urls), **conn)  # type: ignore[arg-type]
    return OpenAIEngine(EngineSpec(backend="openai", connection=connection))


def test_a_busy_live_server_gets_the_requests_of_a_gone_one() -> None:
    # the live server is slow, so it always has requests in flight and the gone one none;
    # one retry each: a request sent to the gone server twice would fail the run
    with FakeOpenAIServer(delay_s=0.2) as alive:
        gone = FakeOpenAIServer().start()
        engine = _engine(
            gone.base_url, alive.base_url, server_max_in_flight=4, request_retries=1, retry_max_s=30.0
        )
        gone.close()
        out = engine.generate(["p"] * 24, PARAMS)
    assert len(out) == 24 and all(c[0].finish_reason == "stop" for c in out)
    assert engine.servers[0].unreachable >= 1 and engine.servers[1].unreachable == 0


def test_every_server_gone_still_stops_after_the_retries() -> None:
    a, b = FakeOpenAIServer().start(), FakeOpenAIServer().start()
    engine = _engine(a.base_url, b.base_url, request_retries=2, retry_max_s=30.0)
    a.close()
    b.close()
    from dart_hf.engines.base import EngineFailure

    with pytest.raises(EngineFailure, match="gave up after 3 tries"):
        engine.generate(["p"], PARAMS)
