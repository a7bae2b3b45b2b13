"""The served-model engine against the in-repo fake server (`tests/fake_openai_server.py`).

Control logic only: retries, `Retry-After`, 400 rows and repeated 400s, 401/404, a dying
server, a server ignoring `n`, wrong model names, several base URLs, in-flight caps, seeds,
secrets, bad input, and `serve.py`'s process handling (with the fake server as the process).
The real vLLM server is exercised by `tests/integration/test_openai_serve.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, Fault

from dart_hf.engines import BACKENDS, check_model
from dart_hf.engines.base import EngineFailure, EngineSpec, GenerationParams, Request
from dart_hf.engines.connection import (
    Header,
    ServerConnection,
    normalise_base_url,
    redact_url,
)
from dart_hf.engines.openai_engine import (
    OPTIONS,
    OpenAIEngine,
    chat_messages,
    request_seed,
    retry_after_s,
)
from dart_hf.errors import DartError
from dart_hf.sampling.prompts import render_prompt

FAKE = Path(__file__).resolve().parents[1] / "fake_openai_server.py"
KEY = "sk-test-SECRET-0123456789abcdef"
HEADER_SECRET = "hdr-SECRET-fedcba9876543210"
PARAMS = GenerationParams(max_tokens=32, temperature=0.7, top_p=0.9, stop=("Question:",))
FAST = {"request_retries": 4, "retry_max_s": 30.0}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Retries back off from 20 ms instead of 500 ms (Retry-After still waits in full)."""
    from dart_hf.engines import openai_engine

    monkeypatch.setattr(openai_engine, "BACKOFF_BASE_S", 0.02)


@pytest.fixture
def server():
    with FakeOpenAIServer() as srv:
        yield srv


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


def run(coro):
    return asyncio.run(coro)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and text
    return text


# ----------------------------------------------------------------- basics


def test_registered_and_options() -> None:
    assert BACKENDS["openai"] == "dart_hf.engines.openai_engine:OpenAIEngine"
    assert OpenAIEngine.OPTIONS == OPTIONS == {"tokenizer", "request_seeds", "batch_n"}
    check_model("openai", "/a/path/only/the/server/has")  # a served id is not a local path


def test_generate_sends_every_setting_and_records_provenance(server) -> None:
    engine = engine_for(server)
    out = engine.generate(["What is 1+1?", "What is 2+2?"], PARAMS, n=[2, 1])
    assert [len(c) for c in out] == [2, 1]
    assert all(c.finish_reason == "stop" and c.n_tokens == 10 and c.error is None for c in out[0])
    bodies = server.completion_requests()
    assert len(bodies) == 3  # one request per sample
    body = bodies[0]
    assert body["model"] == "fake/model" and body["n"] == 1 and body["stream"] is False
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 32)
    assert body["stop"] == ["Question:"] and "seed" not in body
    assert (body["top_k"], body["min_p"], body["repetition_penalty"]) == (-1, 0.0, 1.0)
    assert body["presence_penalty"] == body["frequency_penalty"] == 0.0
    assert body["add_special_tokens"] is True
    prov = engine.provenance()
    assert prov["engine"] == "openai" and prov["model"] == "fake/model"
    assert prov["engine_version"] == "vllm 0.0.0-fake" and prov["max_model_len"] == "4096"
    assert prov["model_root"] == "/models/fake" and len(prov["model_hash"]) == 64
    assert prov["chat_template"] == "server"  # no tokenizer for fake/model here
    assert engine.default_max_in_flight == 256


def test_plain_openai_server_gets_only_standard_fields() -> None:
    with FakeOpenAIServer(owned_by="someone", version=None) as srv:
        engine = engine_for(srv)
        engine.generate(["x"], PARAMS)
        body = srv.completion_requests()[0]
    assert not {"top_k", "min_p", "repetition_penalty", "add_special_tokens"} & set(body)
    assert engine.provenance()["engine_version"] == "openai-compatible (version unknown)"


def test_chat_without_tokenizer_goes_to_chat_endpoint(server, caplog) -> None:
    engine = engine_for(server)
    prompt = render_prompt("chat", "What is 1+1?", tokenizer=engine.tokenizer)
    assert chat_messages(prompt)[0]["role"] == "user"
    with caplog.at_level(logging.WARNING, logger="dart_hf"):
        out = engine.generate([prompt], PARAMS)
    assert out[0][0].finish_reason == "stop" and "boxed" in out[0][0].text
    assert server.paths[-1] == "/v1/chat/completions"
    assert server.requests[-1]["messages"][0]["content"].startswith("What is 1+1?")
    assert "server applies its chat template" in caplog.text


def test_complete_streams_with_keys_on_the_engine_loop(server) -> None:
    engine = engine_for(server)

    async def main():
        reqs = [Request(("q1", 0, i), "prompt", PARAMS) for i in range(6)]
        return await asyncio.gather(*(engine.complete(r) for r in reqs))

    out = run(main())
    assert len(out) == 6 and all(c.finish_reason == "stop" for c in out)
    engine.close()


# ----------------------------------------------------------------- faults


def test_transient_faults_are_retried(server) -> None:
    server.faults = [
        Fault(status=503),
        Fault(status=429),
        Fault(status=408),
        Fault(status=502),
        Fault(drop=True),
        Fault(truncate=True),
        Fault(raw=b"<html>gateway</html>"),
    ]
    engine = engine_for(server, request_retries=8)
    out = engine.generate(["a", "b"], PARAMS, n=[1, 1])
    assert all(c[0].finish_reason == "stop" for c in out)
    assert len(server.completion_requests()) == 2 + 7


def test_retry_after_pauses_every_request() -> None:
    with FakeOpenAIServer() as srv:
        first = [Fault(status=429, message="slow down", headers={"Retry-After": "1"})]
        lock = threading.Lock()

        def fault(body):
            with lock:
                if first:
                    return first.pop()
            time.sleep(0.3)  # answers after the 429 reached the engine
            return None

        srv.fault_for = fault
        engine = engine_for(srv, server_max_in_flight=2)
        engine.generate(["p"] * 6, PARAMS)
        times = sorted(srv.times)
    assert len(times) == 7
    # the 429 came first; every request sent after it waited out the pause
    later = [t for t in times[2:]]
    assert min(later) - times[0] >= 0.95


def test_retry_after_parsing() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_retries_spent_stop_with_one_line(server) -> None:
    server.fault_for = lambda body: Fault(status=503, message="overloaded")
    engine = engine_for(server, request_retries=2)
    with pytest.raises(EngineFailure) as err:
        engine.generate(["a"], PARAMS)
    text = one_line(err.value)
    assert "503 (overloaded)" in text and "gave up after 3 tries" in text
    assert len(server.completion_requests()) == 3
    with pytest.raises(EngineFailure):  # the engine stays failed: no more requests
        engine.generate(["b"], PARAMS)
    assert len(server.completion_requests()) == 3


def test_retry_after_beyond_the_time_budget_stops_at_once(server) -> None:
    server.fault_for = lambda body: Fault(status=429, headers={"Retry-After": "3600"})
    engine = engine_for(server, retry_max_s=5)
    start = time.monotonic()
    with pytest.raises(EngineFailure, match="Retry-After 3600 s"):
        engine.generate(["a"], PARAMS)
    assert time.monotonic() - start < 5


def test_a_single_400_fails_its_sample_only(server) -> None:
    server.faults = [Fault(status=400, message="prompt too long")]
    engine = engine_for(server, server_max_in_flight=1)
    out = engine.generate(["a", "b", "c"], PARAMS)
    failed = [c[0] for c in out if c[0].finish_reason == "error"]
    assert len(failed) == 1 and failed[0].error == "400: prompt too long"
    assert failed[0].text == "" and failed[0].n_tokens == 0
    assert sum(c[0].finish_reason == "stop" for c in out) == 2


def test_identical_400s_in_a_row_stop(server) -> None:
    server.fault_for = lambda body: Fault(status=400, message="unsupported parameter")
    engine = engine_for(server, bad_request_limit=3, server_max_in_flight=1)
    with pytest.raises(EngineFailure) as err:
        engine.generate(["a"] * 5, PARAMS)
    assert "3 requests in a row refused with 400: unsupported parameter" in one_line(err.value)


def test_400s_with_successes_between_do_not_stop(server) -> None:
    flip = iter(range(100))
    server.fault_for = lambda body: Fault(status=400, message="x") if next(flip) % 2 else None
    engine = engine_for(server, bad_request_limit=2, server_max_in_flight=1)
    out = engine.generate(["a"] * 6, PARAMS)
    assert sum(c[0].finish_reason == "error" for c in out) == 3


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refused_key_or_wrong_path_stops_at_once(server, status) -> None:
    server.faults = [Fault(status=status, message=f"server says {status}")]
    engine = engine_for(server, server_max_in_flight=1)
    with pytest.raises(EngineFailure) as err:
        engine.generate(["a", "b"], PARAMS)
    expected = {
        401: "refused the request (401: server says 401); check the key",
        403: "refused the request (403: server says 403); check the key",
        404: "answered 404 (server says 404); check --base-url and --model",
    }[status]
    assert expected in one_line(err.value)
    assert len(server.completion_requests()) == 1


def test_a_redirect_stops_without_following_it(server) -> None:
    target = "https://user:pw@elsewhere.example/v1/completions?key=zz"
    server.faults = [Fault(status=307, headers={"Location": target})]
    engine = engine_for(server)
    with pytest.raises(EngineFailure) as err:
        engine.generate(["a"], PARAMS)
    text = one_line(err.value)
    assert "307 (a redirect to https://elsewhere.example/v1/completions)" in text
    assert "pw" not in text and "zz" not in text


def test_a_dying_server_stops_with_server_died(server) -> None:
    engine = engine_for(server)
    server.die()
    with pytest.raises(EngineFailure) as err:
        engine.generate(["a"], PARAMS)
    text = one_line(err.value)
    assert text.startswith("server died:") and "/health answers 503" in text


def test_a_500_from_a_healthy_server_fails_the_sample(server) -> None:
    server.faults = [Fault(status=500, message="internal")]
    engine = engine_for(server, server_max_in_flight=1)
    out = engine.generate(["a", "b"], PARAMS)
    assert [c[0].finish_reason for c in out].count("error") == 1


def test_a_server_that_went_away_stops_after_retries() -> None:
    srv = FakeOpenAIServer().start()
    engine = engine_for(srv, request_retries=2)
    srv.close()
    with pytest.raises(EngineFailure) as err:
        engine.generate(["a"], PARAMS)
    assert "cannot connect" in one_line(err.value)


def test_other_finish_reasons_fail_the_sample(server) -> None:
    server.faults = [Fault(finish_reason="abort")]
    engine = engine_for(server, server_max_in_flight=1)
    out = engine.generate(["a", "b"], PARAMS)
    bad = [c[0] for c in out if c[0].finish_reason == "error"]
    assert len(bad) == 1 and "'abort'" in bad[0].error


def test_read_timeout_scales_with_max_tokens() -> None:
    with FakeOpenAIServer(delay_s=1.5) as srv:
        engine = engine_for(srv, timeout_s=0.3, timeout_per_token_s=0.0, request_retries=1)
        assert engine._read_timeout(1000).read == 0.3
        with pytest.raises(EngineFailure, match="no answer within the read timeout"):
            engine.generate(["a"], PARAMS)
        slow = engine_for(srv, timeout_s=0.3, timeout_per_token_s=0.1)
        assert slow._read_timeout(32).read == pytest.approx(3.5)
        assert slow.generate(["a"], PARAMS)[0][0].finish_reason == "stop"


# ----------------------------------------------------------------- n and seeds


def test_n_in_one_request_where_the_server_honours_it(server) -> None:
    engine = engine_for(server, options={"batch_n": True})
    out = engine.generate(["a", "b"], PARAMS, n=[3, 2])
    assert [len(c) for c in out] == [3, 2]
    bodies = server.completion_requests()
    assert [b["n"] for b in bodies] == [3, 2] or [b["n"] for b in bodies] == [2, 3]
    assert all(b["return_token_ids"] for b in bodies)
    assert all(c.n_tokens == 10 for comps in out for c in comps)


def test_a_server_ignoring_n_gets_single_requests(caplog) -> None:
    with FakeOpenAIServer(ignore_n=True) as srv:
        engine = engine_for(srv, options={"batch_n": True}, server_max_in_flight=1)
        with caplog.at_level(logging.WARNING, logger="dart_hf"):
            out = engine.generate(["a", "b"], PARAMS, n=[3, 3])
        ns = [b["n"] for b in srv.completion_requests()]
    assert [len(c) for c in out] == [3, 3]
    assert ns[0] == 3 and ns[1:] == [1] * (len(ns) - 1) and len(ns) == 1 + 2 + 3
    assert "answered 1 choices to n=3" in caplog.text


def test_no_seeds_by_default_and_distinct_seeds_when_asked(server) -> None:
    engine = engine_for(server, options={"request_seeds": True})

    async def main():
        reqs = [Request(("q7", r, i), "p", PARAMS) for r, i in enumerate(range(40))]
        return await asyncio.gather(*(engine.complete(r) for r in reqs))

    run(main())
    seeds = [b["seed"] for b in server.completion_requests()]
    assert len(set(seeds)) == 40
    assert set(seeds) == {request_seed(0, "q7", i) for i in range(40)}
    engine.generate(["same"], PARAMS, n=[30])
    seeds = [b["seed"] for b in server.completion_requests()[40:]]
    assert len(set(seeds)) == 30  # never one seed twice for a prompt


def test_seeds_refused_on_a_cpu_server_dart_hf_started(server) -> None:
    with pytest.raises(DartError, match="CPU vLLM server crashes on seeded"):
        engine_for(server, options={"request_seeds": True}, cpu_server=True)


# ----------------------------------------------------------------- models and servers


def test_wrong_model_name_lists_what_is_served(server) -> None:
    with pytest.raises(DartError) as err:
        engine_for(server, model="Qwen/Qwen2.5-7B")
    assert "does not serve the model 'Qwen/Qwen2.5-7B'; it serves: fake/model" in one_line(err.value)


def test_several_models_need_a_choice() -> None:
    models = [{"id": "a", "root": "/a"}, {"id": "b", "root": "/b"}]
    with FakeOpenAIServer(models=models) as srv:
        with pytest.raises(DartError, match=r"serves 2 models \(a, b\); choose one"):
            engine_for(srv)
        assert engine_for(srv, model="b").model == "b"


def test_several_base_urls_least_loaded_with_per_server_caps() -> None:
    with FakeOpenAIServer(delay_s=0.4) as slow, FakeOpenAIServer(delay_s=0.02) as fast:
        engine = engine_for(slow, fast, server_max_in_flight=3)
        assert engine.default_max_in_flight == 6
        out = engine.generate(["p"] * 40, PARAMS)
        assert all(c[0].finish_reason == "stop" for c in out)
        assert slow.max_in_flight <= 3 and fast.max_in_flight <= 3
        assert len(fast.completion_requests()) > 3 * len(slow.completion_requests())
        assert engine.max_in_flight_seen <= 6


def test_in_flight_never_above_the_cap_when_streamed() -> None:
    with FakeOpenAIServer(delay_s=0.05) as srv:
        engine = engine_for(srv, server_max_in_flight=4)

        async def main():
            reqs = [Request((f"q{i}", 0, 0), "p", PARAMS) for i in range(60)]
            return await asyncio.gather(*(engine.complete(r) for r in reqs))

        out = run(main())
    # the engine keeps 4 in flight; the server sees at most that many at once (under load
    # its own count may lag behind while connections open)
    assert len(out) == 60 and 1 <= srv.max_in_flight <= 4 and engine.max_in_flight_seen == 4


def test_a_server_lost_mid_run_leaves_the_others_serving() -> None:
    with FakeOpenAIServer(delay_s=0.02) as alive:
        gone = FakeOpenAIServer().start()
        engine = engine_for(gone, alive, server_max_in_flight=2)
        gone.close()
        out = engine.generate(["p"] * 10, PARAMS)
    assert all(c[0].finish_reason == "stop" for c in out)


def test_max_model_len_is_checked_before_sampling(server) -> None:
    engine = engine_for(server)  # the fake counts words; max_model_len 4096
    assert engine.check_context(["one two three", "one"], 100) == 3
    with pytest.raises(DartError) as err:
        engine.check_context(["word " * 4000], 512)
    assert "4000 tokens" in one_line(err.value) and "max_model_len 4096" in str(err.value)


# ----------------------------------------------------------------- secrets


def test_the_key_reaches_the_server_and_nothing_else(tmp_path, monkeypatch, capsys, caplog):
    from dart_hf import logs

    monkeypatch.setenv("MY_SERVER_KEY", KEY)
    monkeypatch.setenv("MY_HEADER", HEADER_SECRET)
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY + "\n")
    with FakeOpenAIServer(key=KEY) as srv, logs.terminal(logs.VERBOSE, out=tmp_path / "out"):
        caplog.set_level(logging.DEBUG)
        # the server echoes the key back in errors, as some do ("Incorrect API key: sk-...")
        srv.faults = [
            Fault(status=400, message=f"bad request from {KEY} / {HEADER_SECRET}"),
            Fault(status=503, message=f"busy {KEY}"),
        ]
        errors_seen, texts, blobs = [], [], []
        for source in ({"api_key_env": "MY_SERVER_KEY"}, {"api_key_file": str(key_file)}):
            engine = engine_for(
                srv, server_max_in_flight=1, headers=("X-Tenant-Key:env:MY_HEADER",), **source
            )
            out = engine.generate(["a", "b"], PARAMS)
            errors = [c[0].error for c in out if c[0].error]
            errors_seen.append(errors)
            spec = engine.spec
            texts += [
                *errors,
                repr(spec),
                repr(spec.connection),
                json.dumps(spec.to_dict()),
                repr(engine.provenance()),
            ]
            blobs += [pickle.dumps(spec), pickle.dumps(engine)]
            assert "connection" not in spec.to_dict()
            srv.faults = [Fault(status=401, message=f"Incorrect API key provided: {KEY}")]
            with pytest.raises(EngineFailure) as err:
                engine.generate(["c"], PARAMS)
            texts.append(str(err.value))
            assert "Incorrect API key provided: ***" in str(err.value)
        assert errors_seen == [["400: bad request from *** / ***"], []]
        auth = [h.get("Authorization") for h in srv.headers_seen]
        assert f"Bearer {KEY}" in auth
        assert HEADER_SECRET in [h.get("X-Tenant-Key") for h in srv.headers_seen]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    texts = [t for t in texts if t != KEY + "\n"]  # the key file itself
    for secret in (KEY, HEADER_SECRET):
        assert not any(secret in t for t in texts)
        assert not any(secret.encode() in b for b in blobs)


def test_a_key_on_the_command_line_is_refused(server, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cases = [
        lambda: ServerConnection((server.base_url,), api_key_env=KEY),
        lambda: ServerConnection((server.base_url,), api_key_file=KEY),
        lambda: ServerConnection((server.base_url,), headers=(f"Authorization:Bearer {KEY}",)),
        lambda: ServerConnection((f"http://user:{KEY}@127.0.0.1:{server.port}/v1",)),
        lambda: engine_for(server, options={"api_key": KEY}),
    ]
    for make in cases:
        with pytest.raises(DartError) as err:
            make()
        assert KEY not in one_line(err.value)
    with pytest.raises(DartError, match="never given as a value"):
        engine_for(server, options={"api_key": KEY})
    with pytest.raises(DartError, match="MISSING_VAR is not set"):
        engine_for(server, api_key_env="MISSING_VAR")


def test_wrong_key_is_one_line_without_the_key(monkeypatch) -> None:
    monkeypatch.setenv("WRONG_KEY", "sk-wrong-0123456789")
    with FakeOpenAIServer(key=KEY) as srv, pytest.raises(DartError) as err:
        engine_for(srv, api_key_env="WRONG_KEY")
    text = one_line(err.value)
    assert "answered 401" in text and "sk-wrong" not in text and "--api-key-env" in text


def test_urls_are_shown_without_userinfo_or_query() -> None:
    assert redact_url("https://u:p@h.example:8443/v1?api-key=zz#f") == "https://h.example:8443/v1"
    assert normalise_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalise_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert normalise_base_url("https://h/openai/v1?api-version=1") == ("https://h/openai/v1?api-version=1")
    conn = ServerConnection(("https://h.example/v1?api-key=zz",))
    assert "zz" not in repr(conn)
    assert "secret" not in repr(Header("X-Tenant", "secret"))


def test_spec_keeps_the_connection_out_of_records(server) -> None:
    a = EngineSpec(backend="openai", model="m", connection=ServerConnection((server.base_url,)))
    b = EngineSpec(backend="openai", model="m", connection=ServerConnection(("http://h:1/v1",)))
    plain = EngineSpec(backend="openai", model="m")
    assert a.to_dict() == b.to_dict() == plain.to_dict()
    assert a != b and hash(a) != hash(b)  # two servers are two engines in one process
    assert EngineSpec.from_dict(a.to_dict()) == plain


# ----------------------------------------------------------------- bad input


def _html_server():
    class Html(BaseHTTPRequestHandler):
        def do_GET(self):
            data = b"<html><body>login page</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_bad_input_is_one_line(server) -> None:
    closed = FakeOpenAIServer()
    closed_url = closed.base_url
    closed.close()
    html = _html_server()
    try:
        cases = {
            "cannot reach": lambda: engine_for(closed_url),
            "scheme must be http or https": lambda: engine_for("ftp://127.0.0.1/v1"),
            "give a full URL with http:// or https://": lambda: engine_for("localhost:8000"),
            "answered 404": lambda: engine_for(f"{server.root}/wrong/path"),
            "did not answer JSON (text/html)": lambda: engine_for(
                f"http://127.0.0.1:{html.server_address[1]}/v1"
            ),
            "no option temperature": lambda: engine_for(server, options={"temperature": 1}),
            "needs --base-url": lambda: OpenAIEngine(EngineSpec(backend="openai")),
        }
        for expected, make in cases.items():
            with pytest.raises(DartError) as err:
                make()
            assert expected in one_line(err.value), expected
    finally:
        html.shutdown()
        html.server_close()


def test_truncated_or_non_json_answers_stop_in_one_line(server) -> None:
    for fault, expected in (
        (Fault(truncate=True), "closed before the answer was complete"),
        (Fault(raw=b"<html>oops</html>"), "not a completion (200, text/html)"),
    ):
        server.fault_for = lambda body, f=fault: f
        engine = engine_for(server, request_retries=1)
        with pytest.raises(EngineFailure) as err:
            engine.generate(["a"], PARAMS)
        assert expected in one_line(err.value)


def test_engine_pickles_as_its_spec(server) -> None:
    engine = engine_for(server)
    again = pickle.loads(pickle.dumps(engine))
    assert isinstance(again, OpenAIEngine) and again.spec == engine.spec
    assert again.generate(["a"], PARAMS)[0][0].finish_reason == "stop"


def test_served_spec_records_the_served_id(server) -> None:
    from dart_hf.engines.openai_engine import served_spec

    spec = EngineSpec(backend="openai", connection=ServerConnection((server.base_url,)))
    full = served_spec(spec)
    assert full.model == "fake/model" and full.to_dict()["model"] == "fake/model"
    assert full.connection == spec.connection and served_spec(full) is full


def test_proxies_come_from_the_environment_but_not_for_loopback(server, monkeypatch) -> None:
    with FakeOpenAIServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.root)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        engine_for(server).generate(["a"], PARAMS)  # loopback: straight to the server
        assert proxy.proxied == [] and len(server.completion_requests()) == 1
        remote = engine_for("http://models.example.invalid:8000/v1")  # via the proxy
        remote.generate(["a"], PARAMS)
    assert "http://models.example.invalid:8000/v1/models" in proxy.proxied
    assert "http://models.example.invalid:8000/v1/completions" in proxy.proxied


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (openssl's command line)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


def test_tls_is_verified(certificate, monkeypatch) -> None:
    cert, _ = certificate
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with FakeOpenAIServer(tls=certificate) as srv:
        assert srv.base_url.startswith("https://")
        with pytest.raises(DartError) as err:
            engine_for(srv)
        text = one_line(err.value)
        assert "certificate verify failed" in text and "--ca-bundle" in text
        assert engine_for(srv, ca_bundle=cert).generate(["a"], PARAMS)[0][0].error is None
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        assert engine_for(srv).generate(["a"], PARAMS)[0][0].error is None


# ----------------------------------------------------------------- serve.py
