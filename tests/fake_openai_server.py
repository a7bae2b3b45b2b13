"""A small OpenAI-compatible server for tests (stdlib only, loopback only).

It answers `/v1/models`, `/v1/completions`, `/v1/chat/completions`, `/health`, `/version`
and `/tokenize` like a vLLM server would, with injectable faults for the completion
endpoints: a status with a body and headers (`Retry-After`), a connection dropped before
the answer, a truncated body, a non-JSON body, a slow answer; a server that dies
(`die()`: 500s and `/health` 503), one that ignores `n`, one that wants a key. It counts the
requests and the most it had in flight at once.

In a thread: `with FakeOpenAIServer() as server: ... server.base_url ...`.
As a process (for `serve.py` tests): `python fake_openai_server.py --port P [--ready-after S]
[--child]` (`--child` starts a grandchild, as vLLM starts its engine core).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    """What the server does instead of answering one completion request.

    Attributes:
        status: HTTP status to answer (with `message` as an OpenAI error body).
        message: The error message.
        headers: Extra headers (e.g. {"Retry-After": "1"}).
        drop: Close the connection without an answer.
        truncate: Announce a body and send only part of it.
        raw: Send these bytes as a 200 body (e.g. HTML, to test non-JSON answers).
        finish_reason: Answer normally but with this finish_reason.
    """

    status: int = 200
    message: str = "fault"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    truncate: bool = False
    raw: bytes | None = None
    finish_reason: str | None = None


DEFAULT_MODEL = {"id": "fake/model", "root": "/models/fake", "max_model_len": 4096}


class FakeOpenAIServer:
    """The fake server (see the module docstring)."""

    def __init__(
        self,
        *,
        models: list[dict[str, Any]] | None = None,
        owned_by: str = "vllm",
        version: str | None = "0.0.0-fake",
        key: str | None = None,
        delay_s: float = 0.0,
        ignore_n: bool = False,
        port: int = 0,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.models = [dict(m) for m in (models or [DEFAULT_MODEL])]
        self.owned_by = owned_by
        self.version = version
        self.key = key
        self.delay_s = delay_s
        self.ignore_n = ignore_n
        self.faults: list[Fault] = []
        self.fault_for: Callable[[dict[str, Any]], Fault | None] | None = None
        self.dead = False
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers_seen: list[dict[str, str]] = []
        self.times: list[float] = []  # monotonic arrival time of each completion request
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self.scheme = "http"
        if tls is not None:  # (certificate file, key file)
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self.proxied: list[str] = []  # absolute-form request targets (it served as a proxy)
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket (later connections are refused)."""
        if self._thread is not None:  # shutdown() waits for a serve_forever that never ran
            self._httpd.shutdown()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def die(self) -> None:
        """From now on: completions answer 500, `/health` 503."""
        self.dead = True

    def completion_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r, p in zip(self.requests, self.paths, strict=True) if "complet" in p]

    # ------------------------------------------------------------------ answers

    def _next_fault(self, body: dict[str, Any]) -> Fault | None:
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
        return self.fault_for(body) if self.fault_for is not None else None

    def _completion(self, body: dict[str, Any], chat: bool, finish: str | None) -> dict[str, Any]:
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        prompt = json.dumps(body.get("messages")) if chat else str(body.get("prompt", ""))
        choices = []
        total = 0
        for i in range(n):
            k = (len(prompt) + i + int(body.get("seed") or 0)) % 97
            text = f"We add the numbers, {k} steps. The answer is \\boxed{{{k}}}."
            tokens = len(text.split())
            total += tokens
            choice: dict[str, Any] = {"index": i, "finish_reason": finish or "stop"}
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            if body.get("return_token_ids"):
                choice["token_ids"] = list(range(tokens))
            choices.append(choice)
        return {
            "id": "cmpl-fake",
            "object": "chat.completion" if chat else "text_completion",
            "model": body.get("model"),
            "choices": choices,
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": total},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None):
                err = {"message": message, "type": "Error", "param": None, "code": status}
                self._send(status, {"error": err}, headers)

            def _authorised(self) -> bool:
                if server.key is None:
                    return True
                if self.headers.get("Authorization") == f"Bearer {server.key}":
                    return True
                self._error(401, "Unauthorized: bad or missing API key")
                return False

            def parse_request(self) -> bool:
                ok = super().parse_request()
                if ok and "://" in self.path:  # a proxy's absolute-form target
                    with server.lock:
                        server.proxied.append(self.path)
                    self.path = urlsplit(self.path).path or "/"
                return ok

            def do_GET(self) -> None:
                with server.lock:
                    server.paths.append(self.path)
                    server.requests.append({})
                    server.headers_seen.append(dict(self.headers))
                if self.path == "/health":
                    self._send(503 if server.dead else 200, b"")
                elif self.path == "/version" and server.version is not None:
                    self._send(200, {"version": server.version})
                elif self.path.split("?")[0] == "/v1/models":
                    if not self._authorised():
                        return
                    data = [{"object": "model", "owned_by": server.owned_by, **m} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._error(404, "Not Found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._error(400, "invalid JSON")
                    return
                path = self.path.split("?")[0]
                with server.lock:
                    server.paths.append(path)
                    server.requests.append(body)
                    server.headers_seen.append(dict(self.headers))
                if path == "/tokenize":
                    text = body.get("prompt") or json.dumps(body.get("messages"))
                    self._send(200, {"count": len(str(text).split())})
                    return
                if path not in ("/v1/completions", "/v1/chat/completions"):
                    self._error(404, "Not Found")
                    return
                if not self._authorised():
                    return
                ids = [m["id"] for m in server.models]
                if body.get("model") not in ids:
                    self._error(404, f"The model `{body.get('model')}` does not exist.")
                    return
                with server.lock:
                    server.times.append(time.monotonic())
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._complete(body, chat=path.endswith("chat/completions"))
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _complete(self, body: dict[str, Any], chat: bool) -> None:
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.dead:
                    self._error(500, "EngineCore died unexpectedly")
                    return
                fault = server._next_fault(body)
                if fault is not None and fault.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault is not None and fault.truncate:
                    data = json.dumps(server._completion(body, chat, None)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault is not None and fault.raw is not None:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(fault.raw)))
                    self.end_headers()
                    self.wfile.write(fault.raw)
                    return
                if fault is not None and fault.status != 200:
                    self._error(fault.status, fault.message, fault.headers)
                    return
                finish = fault.finish_reason if fault is not None else None
                self._send(200, server._completion(body, chat, finish))

        return Handler


def main() -> None:
    """Serve until killed (the process form, for `serve.py` tests)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--model", default=DEFAULT_MODEL["id"])
    args, _ = parser.parse_known_args()
    if args.child:  # stands for vLLM's engine core: a grandchild of the command
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    time.sleep(args.ready_after)
    server = FakeOpenAIServer(port=args.port, models=[{**DEFAULT_MODEL, "id": args.model}])
    print(f"serving on {server.base_url}", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
