"""The served-model engine: completions from OpenAI-compatible inference servers.

Works against `vllm serve` (GPU nodes), SGLang, TGI, llama.cpp or a hosted endpoint, through
`httpx` (no torch, no vLLM needed). The servers are given by `EngineSpec.connection`
(`dart_hf.engines.connection.ServerConnection`: base URLs, the key's source, headers,
retries, per-server caps), which no record or fingerprint holds; `EngineSpec.model` is the
served model id (None: the only one served), and the fingerprint holds that id.

Prompts are rendered by dart-hf, exactly as for the in-process engines, with the model's
tokenizer (option `tokenizer`, else the served id or the server's `root` where they load
locally), and sent to `/v1/completions`. With no tokenizer the engine's `tokenizer` is a
`ServerChatTemplate`: the `chat` template then renders to a marked user message that goes to
`/v1/chat/completions` (the server applies the chat template; provenance says so); the other
templates are plain text and need no tokenizer.

Requests: one per sample (its `usage` gives `n_tokens`); every sampling setting is explicit
(temperature, top_p, penalties, and for vLLM and SGLang also top_k, min_p and
repetition_penalty, which they would otherwise take from the model's generation config);
`add_special_tokens: false` (vLLM) where the rendered prompt already starts with a BOS the
tokenizer would add again. Seeds: none by default; option `request_seeds` sends a distinct
seed per sample derived from (engine seed, query id, sample_idx), never one seed twice for a
query (refused on a CPU vLLM server dart-hf started: seeded long prompts crash it). Option
`batch_n` lets the blocking `generate` ask a vLLM server for all of a prompt's samples in one
request; the answer is checked, and a server that ignores `n` gets single requests after.

Faults: connection errors, timeouts, 408, 429, 502-504 and truncated or non-JSON answers are
retried (backoff with full jitter; `Retry-After` pauses every request of the engine) at most
`request_retries` times and `retry_max_s` seconds, then `EngineFailure` (one line) stops the
command; a rerun resumes. 401/403/404 stop at once with the server's message. A 400 (or a
500 from a server whose `/health` is fine) fails its sample only (`Completion.error`), but
`bad_request_limit` identical ones in a row stop the command; a 500 from a server whose
`/health` is not 200 stops with "server died". A `finish_reason` other than stop/length fails
its sample. Read timeouts grow with `max_tokens`. No message, log line or pickle holds the key
or a header value; URLs are shown without userinfo or query.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import hashlib
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from dart_hf.engines.base import Completion, EngineFailure, EngineSpec, GenerationParams, Request
from dart_hf.engines.connection import (
    ServerConnection,
    endpoint,
    redact_url,
    server_root,
)
from dart_hf.errors import DartError

logger = logging.getLogger(__name__)

T = TypeVar("T")

OPTIONS: frozenset[str] = frozenset({"tokenizer", "request_seeds", "batch_n"})
"""Options the engine accepts (`EngineSpec.options`); all of them can change the samples, so
all of them belong in the fingerprint. Connection settings are not options."""

SERVER_CHAT_PREFIX = "\x00dart-hf:server-chat\x00"
"""Marks a prompt that is a JSON list of chat messages for `/v1/chat/completions`."""

RETRY_STATUS = frozenset({408, 429, 502, 503, 504})
STOP_STATUS = frozenset({401, 403, 404})
EXTENDED_SAMPLING = frozenset({"vllm", "sglang"})
"""Servers that take top_k, min_p and repetition_penalty (and would otherwise apply the
model's generation config to them)."""
PROBE_TIMEOUT_S = 10.0
HEALTH_TIMEOUT_S = 5.0
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
WARN_EVERY_S = 10.0
_LOOPBACK = ("all://127.0.0.1", "all://localhost", "all://[::1]")


class ServerChatTemplate:
    """Stands in for a tokenizer where none loads: the `chat` template renders to the user
    message itself (marked), which the engine sends to `/v1/chat/completions`."""

    chat_template = "server"
    bos_token = None

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = False, **_: Any) -> str:
        """The marked messages (what `prompts.render_prompt` gets for `chat`)."""
        if tokenize:
            raise DartError("no tokenizer: the server applies the chat template")
        return SERVER_CHAT_PREFIX + json.dumps(list(messages), ensure_ascii=False)


def chat_messages(prompt: str) -> list[dict[str, str]] | None:
    """The chat messages of a server-rendered prompt, None for a plain prompt."""
    if not prompt.startswith(SERVER_CHAT_PREFIX):
        return None
    return list(json.loads(prompt[len(SERVER_CHAT_PREFIX) :]))


def request_seed(base: int, query_id: str, sample_idx: int) -> int:
    """The seed of one sample: distinct for every `sample_idx` of one query (an offset from
    a per-query hash), so no query is ever sampled twice with one seed."""
    digest = hashlib.sha256(f"{base}|{query_id}".encode()).digest()
    return (int.from_bytes(digest[:4], "little") + int(sample_idx)) % 2**31


def served_spec(spec: EngineSpec) -> EngineSpec:
    """`spec` with `model` set to the served id (with None, the servers are asked which one
    they serve), so that records and fingerprints hold the model id."""
    if spec.model is not None:
        return spec
    engine = OpenAIEngine(spec)  # a probe: no tokenizer is loaded
    return dataclasses.replace(spec, model=engine.model)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _server_message(resp: httpx.Response) -> str:
    """The error message of an answer: OpenAI's `{"error": {"message"}}`, vLLM's older
    `{"message"}`, FastAPI's `{"detail"}`, else the start of the body."""
    try:
        data = resp.json()
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return _one_line(err["message"])
        for key in ("message", "detail", "error"):
            if isinstance(data.get(key), str) and data[key]:
                return _one_line(data[key])
    text = resp.text if resp.content else ""
    return _one_line(text) if text.strip() else resp.reason_phrase or "no message"


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - now)


def _transport_fault(exc: Exception) -> str:
    """One line for a transport error (no URL: httpx messages may hold a query string)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.ReadTimeout):
        return "no answer within the read timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        reason = str(exc).split("] ", 1)[-1] if str(exc) else ""
        hint = "; give its CA with --ca-bundle or SSL_CERT_FILE" if "certificate" in reason else ""
        return f"cannot connect ({_one_line(reason, 100) or 'refused'}){hint}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection closed before the answer was complete"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection broke"
    return type(exc).__name__


@dataclass
class _Server:
    """One base URL and what its probe found."""

    base_url: str
    shown: str = ""
    root: str = ""
    kind: str = "openai-compatible"
    version: str | None = None
    model_root: str | None = None
    max_model_len: int | None = None
    honours_n: bool | None = None
    cooldown_until: float = 0.0
    unreachable: int = 0
    """Connection failures in a row (0 once it answers anything)."""

    def __post_init__(self) -> None:
        self.shown = redact_url(self.base_url)
        self.root = server_root(self.base_url)


@dataclass
class _Refused:
    """A request the server refused for itself alone (a 400, or a 500 while healthy)."""

    status: int
    message: str


@dataclass
class _Session:
    """The per-event-loop half of the engine: an `httpx.AsyncClient` and the dispatcher."""

    client: httpx.AsyncClient
    in_flight: list[int]
    cond: asyncio.Condition = field(default_factory=asyncio.Condition)
    max_seen: list[int] = field(default_factory=list)


class OpenAIEngine:
    """Samples from OpenAI-compatible servers (see the module docstring)."""

    name = "openai"
    OPTIONS = OPTIONS

    @staticmethod
    def seeding_of_spec(spec: EngineSpec) -> str:
        """How requests are seeded under `spec`: "per request" with option
        `request_seeds`, else "not seeded" (the server's own randomness)."""
        return "per request" if spec.option("request_seeds") else "not seeded"

    @property
    def seeding(self) -> str:
        return self.seeding_of_spec(self.spec)

    def __init__(self, spec: EngineSpec) -> None:
        """Check the options, read the key's source, probe every server, load a tokenizer.

        Raises:
            DartError: No connection, an unknown option, a key given as a value, an
                unreachable or non-OpenAI server, a model not served (one line each).
        """
        self.spec = spec
        conn = spec.connection
        if not isinstance(conn, ServerConnection):
            raise DartError("the openai engine needs --base-url URL (or --serve MODEL)")
        self.connection = conn
        options = dict(spec.options)
        if "api_key" in options or "key" in options:
            raise DartError("a key is never given as a value: use --api-key-env NAME or --api-key-file PATH")
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise DartError(
                f"the openai engine has no option {', '.join(unknown)}; valid: {', '.join(sorted(OPTIONS))}"
            )
        self.request_seeds = bool(options.get("request_seeds", False))
        self.batch_n = bool(options.get("batch_n", False))
        if self.request_seeds and conn.cpu_server:
            raise DartError(
                "request_seeds: a CPU vLLM server crashes on seeded requests whose prompt does "
                "not fit one scheduler step; sample without seeds on a --serve CPU server"
            )
        if self.request_seeds and self.batch_n:
            raise DartError("request_seeds and batch_n cannot be combined")
        self._secrets = conn.read_secrets()  # fails now, in one line, if a source is wrong
        self._ssl = self._ssl_context()
        self.servers = [_Server(url) for url in conn.base_urls]
        self._pause_until = 0.0
        self._bad_streak: tuple[tuple[int, str], int] = ((0, ""), 0)
        self._failure: str | None = None
        self._warned: dict[str, float] = {}
        self._sessions: dict[asyncio.AbstractEventLoop, _Session] = {}
        self._lock = threading.Lock()
        self.max_in_flight_seen = 0
        self.requests_sent = 0
        logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines show full URLs
        self.model = self._probe(spec.model)
        self._tokenizer: Any = None  # loaded on first use (`tokenizer`)
        self.default_max_in_flight = conn.server_max_in_flight * len(self.servers)

    # ------------------------------------------------------------------ set-up

    def _ssl_context(self) -> ssl.SSLContext | bool:
        bundle = self.connection.ca_bundle
        if bundle is None:
            return True  # httpx: SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi
        path = Path(bundle).expanduser()
        try:
            if path.is_dir():
                return ssl.create_default_context(capath=str(path))
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise DartError(f"--ca-bundle {bundle!r} is not a CA bundle ({exc})") from None

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        headers.update(dict(self._secrets.headers))
        if self._secrets.api_key:
            headers["Authorization"] = f"Bearer {self._secrets.api_key}"
        return headers

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "headers": self._headers(),
            "verify": self._ssl,
            "trust_env": True,  # proxies (HTTPS_PROXY, NO_PROXY) and SSL_CERT_FILE
            "follow_redirects": False,
        }

    def _scrub(self, text: str) -> str:
        return self._secrets.scrub(text)

    def _probe(self, wanted: str | None) -> str:
        """Ask every server what it serves; return the served id to sample from."""
        served: list[list[dict[str, Any]]] = []
        mounts: dict[str, httpx.BaseTransport | None] = dict.fromkeys(_LOOPBACK)
        timeout = httpx.Timeout(PROBE_TIMEOUT_S, connect=PROBE_TIMEOUT_S / 2)
        with httpx.Client(timeout=timeout, mounts=mounts, **self._client_kwargs()) as client:
            for server in self.servers:
                served.append(self._models(client, server))
                server.version = self._version(client, server)
        ids = [[str(m.get("id")) for m in models] for models in served]
        if wanted is None:
            for server, names in zip(self.servers, ids, strict=True):
                if len(names) != 1:
                    raise DartError(
                        f"{server.shown} serves {len(names)} models ({', '.join(names)}); "
                        "choose one with --model"
                    )
            wanted = ids[0][0]
        for server, names in zip(self.servers, ids, strict=True):
            if wanted not in names:
                listed = ", ".join(names) if names else "none"
                raise DartError(f"{server.shown} does not serve the model {wanted!r}; it serves: {listed}")
        for server, models in zip(self.servers, served, strict=True):
            card = next(m for m in models if str(m.get("id")) == wanted)
            owner = str(card.get("owned_by") or "").lower()
            server.kind = owner if owner in EXTENDED_SAMPLING else "openai-compatible"
            server.model_root = str(card["root"]) if card.get("root") else None
            mml = card.get("max_model_len")
            server.max_model_len = int(mml) if isinstance(mml, int) and mml > 0 else None
        return wanted

    def _get_json(self, client: httpx.Client, url: str, what: str) -> Any:
        shown = redact_url(url)
        last = ""
        for attempt in range(3):  # a server that just came up may refuse for a moment
            try:
                resp = client.get(url)
            except httpx.HTTPError as exc:
                last = _transport_fault(exc)
                if not isinstance(exc, httpx.ConnectError):
                    break
                time.sleep(0.5 * (attempt + 1))
                continue
            if 300 <= resp.status_code < 400:
                location = redact_url(resp.headers.get("location", "?"))
                raise DartError(
                    f"{shown} answered {resp.status_code} (a redirect to {location}): give the "
                    "final URL as --base-url"
                )
            if resp.status_code >= 400:
                hint = (
                    "; check --base-url (e.g. http://HOST:8000/v1)"
                    if resp.status_code in (404, 405)
                    else "; check the key (--api-key-env / --api-key-file)"
                    if resp.status_code in (401, 403)
                    else ""
                )
                raise DartError(
                    self._scrub(f"{shown} answered {resp.status_code} ({_server_message(resp)}){hint}")
                )
            try:
                return resp.json()
            except (ValueError, UnicodeDecodeError):
                kind = resp.headers.get("content-type", "no content type").split(";")[0]
                raise DartError(
                    f"{shown} did not answer JSON ({kind}): is it an OpenAI-compatible "
                    f"server's {what}? check --base-url"
                ) from None
        raise DartError(f"cannot reach {shown}: {last}; is the server running?")

    def _models(self, client: httpx.Client, server: _Server) -> list[dict[str, Any]]:
        data = self._get_json(client, endpoint(server.base_url, "models"), "model list")
        models = data.get("data") if isinstance(data, dict) else None
        if not isinstance(models, list) or not all(isinstance(m, dict) and m.get("id") for m in models):
            raise DartError(
                f"{redact_url(endpoint(server.base_url, 'models'))} is not an OpenAI model "
                "list (no data[].id); check --base-url"
            )
        return models

    def _version(self, client: httpx.Client, server: _Server) -> str | None:
        with contextlib.suppress(httpx.HTTPError, ValueError, UnicodeDecodeError):
            resp = client.get(f"{server.root.rstrip('/')}/version")
            if resp.status_code == 200:
                value = resp.json().get("version")
                return str(value) if value else None
        return None

    def _load_tokenizer(self) -> Any:
        """The model's tokenizer: option `tokenizer`, else the served id or the server's root
        where they load from local files; else a `ServerChatTemplate`."""
        name = self.spec.option("tokenizer")
        try:
            from transformers import AutoTokenizer
        except ImportError:
            if name:
                raise DartError(
                    "--tokenizer needs the package 'transformers': pip install transformers"
                ) from None
            return ServerChatTemplate()
        if name:
            try:
                return AutoTokenizer.from_pretrained(str(name))
            except Exception as exc:  # transformers raises many kinds here
                raise DartError(
                    f"--tokenizer {name!r} does not load ({type(exc).__name__}: {_one_line(str(exc), 160)})"
                ) from None
        candidates = [self.model, *(s.model_root for s in self.servers if s.model_root)]
        for candidate in dict.fromkeys(candidates):
            if candidate.startswith(("/", "~", ".")) and not Path(candidate).expanduser().exists():
                continue
            try:
                return AutoTokenizer.from_pretrained(candidate, local_files_only=True)
            except Exception:  # not here; the next candidate or the server renders
                continue
        logger.info("no local tokenizer for %s: the server renders chat prompts", self.model)
        return ServerChatTemplate()

    # ------------------------------------------------------------------ public

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer, or a `ServerChatTemplate` where none loads (loaded on first
        use: a probe alone, e.g. `served_spec`, imports no transformers)."""
        with self._lock:
            if self._tokenizer is None:
                self._tokenizer = self._load_tokenizer()
            return self._tokenizer

    @property
    def server_renders_chat(self) -> bool:
        """Whether the `chat` template is applied by the server (no tokenizer here)."""
        return isinstance(self.tokenizer, ServerChatTemplate)

    @property
    def max_model_len(self) -> int | None:
        """The smallest `max_model_len` the servers report (None: none reports one)."""
        lens = [s.max_model_len for s in self.servers if s.max_model_len]
        return min(lens) if lens else None

    def provenance(self) -> dict[str, str]:
        """Engine "openai", the server software and version, the served id, a model hash
        (the folder's when dart-hf served it, else a stand-in from the served id and root),
        and for the cards: root, max_model_len, who rendered chat prompts, the servers."""
        kinds = sorted({s.kind for s in self.servers})
        versions = sorted({f"{s.kind} {s.version or '(version unknown)'}" for s in self.servers})
        roots = sorted({s.model_root for s in self.servers if s.model_root})
        stand_in = hashlib.sha256("\n".join(["openai-served", self.model, *roots]).encode()).hexdigest()
        return {
            "engine": self.name,
            "engine_version": ", ".join(versions),
            "model": self.model,
            "model_hash": self.connection.model_hash or stand_in,
            "model_hash_source": "folder" if self.connection.model_hash else "served id + root",
            "model_root": ", ".join(roots),
            "server": ", ".join(kinds),
            "max_model_len": str(self.max_model_len or ""),
            "chat_template": "server" if self.server_renders_chat else "dart-hf",
            "servers": str(len(self.servers)),
            "request_seeds": str(self.request_seeds).lower(),
        }

    def served_details(self) -> dict[str, str]:
        """What the servers reported, for the round records and the cards: served id, model
        root, max_model_len, server software and version, who applies the chat template
        (`chat` prompts only), and how many servers (never a URL or a key)."""
        prov = self.provenance()
        details = {
            "served id": prov["model"],
            "root": prov["model_root"] or "(not reported)",
            "max_model_len": prov["max_model_len"] or "(not reported)",
            "server": prov["engine_version"],
            "chat template applied by": (
                "the server (no local tokenizer)" if self.server_renders_chat else "dart-hf"
            ),
        }
        if len(self.servers) > 1:
            details["servers"] = str(len(self.servers))
        return details

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer (no special tokens); without a local
        tokenizer, the server's `/tokenize` (vLLM) counts them."""
        if not self.server_renders_chat:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        return self._run(self._count_on_server([text]))[0]

    def check_context(self, prompts: Sequence[str], max_tokens: int) -> int | None:
        """Fail before sampling where the longest prompt plus `max_tokens` exceeds the
        server's `max_model_len`.

        Returns:
            The longest prompt's token count, or None where it could not be counted (no
            local tokenizer and no `/tokenize`) or no server reports `max_model_len`.

        Raises:
            DartError: The longest prompt does not leave room for `max_tokens` (one line).
        """
        limit = self.max_model_len
        if limit is None or not prompts:
            return None
        if not self.server_renders_chat:
            longest = max(len(self.tokenizer.encode(p, add_special_tokens=False)) for p in set(prompts))
        else:
            # the server counts: the 16 longest prompts by characters stand for all
            few = sorted(set(prompts), key=len, reverse=True)[:16]
            try:
                longest = max(self._run(self._count_on_server(few)))
            except DartError as exc:
                logger.warning("cannot check the prompts' length: %s", exc)
                return None
        if longest + max_tokens > limit:
            raise DartError(
                f"the longest prompt has {longest} tokens; with max_tokens {max_tokens} that "
                f"is {longest + max_tokens} > the server's max_model_len {limit} for "
                f"{self.model}: lower max_tokens or serve a longer context"
            )
        return longest

    async def complete(self, request: Request) -> Completion:
        """One completion (awaited on the engine's own event loop)."""
        seed = request_seed(self.spec.seed, request.key[0], request.key[2])
        out = await self._sample(
            self._session(), request.prompt, request.params, 1, seed if self.request_seeds else None
        )
        return out[0]

    def generate(
        self, prompts: list[str], params: GenerationParams, n: list[int] | None = None
    ) -> list[list[Completion]]:
        """Completions for every prompt, in prompt order (blocking; the same async path on a
        private event loop, at most `default_max_in_flight` requests at a time)."""
        counts = list(n) if n is not None else [params.n] * len(prompts)
        if len(counts) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(counts)} counts")
        return self._run(self._generate(prompts, params, counts))

    def close(self) -> None:
        """Close the HTTP clients (those of loops still open)."""
        sessions, self._sessions = self._sessions, {}
        for loop, session in sessions.items():
            if loop.is_closed():
                continue
            with contextlib.suppress(Exception):
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(session.client.aclose(), loop).result(5)
                else:
                    loop.run_until_complete(session.client.aclose())

    def __reduce__(self) -> tuple[Any, ...]:
        # An engine pickles as its spec (Ray); the key is read again where it is rebuilt.
        return (type(self), (self.spec,))

    # ------------------------------------------------------------------ async core

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` to completion on a private event loop (in a helper thread when this
        thread already runs one)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        result: list[Any] = []

        def target() -> None:
            try:
                result.append(asyncio.run(coro))
            except BaseException as exc:  # handed to the caller's thread
                result.append(exc)

        thread = threading.Thread(target=target, name="dart-hf-openai")
        thread.start()
        thread.join()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    def _new_session(self) -> _Session:
        limits = httpx.Limits(
            max_connections=None,
            max_keepalive_connections=self.connection.server_max_in_flight * len(self.servers),
        )
        mounts: dict[str, httpx.AsyncBaseTransport | None] = dict.fromkeys(_LOOPBACK)
        client = httpx.AsyncClient(limits=limits, mounts=mounts, **self._client_kwargs())
        return _Session(client, [0] * len(self.servers), max_seen=[0] * len(self.servers))

    def _session(self) -> _Session:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None:
            for old in [lp for lp in self._sessions if lp.is_closed()]:
                del self._sessions[old]  # their connections went with their loop
            session = self._sessions[loop] = self._new_session()
        return session

    async def _generate(
        self, prompts: list[str], params: GenerationParams, counts: list[int]
    ) -> list[list[Completion]]:
        session = self._new_session()
        try:
            jobs: list[tuple[int, int, int]] = []  # (prompt, first sample, samples)
            for i, k in enumerate(counts):
                if k > 0 and self.batch_n and k > 1:
                    jobs.append((i, 0, k))
                else:
                    jobs.extend((i, j, 1) for j in range(k))
            gate = asyncio.Semaphore(self.default_max_in_flight)

            async def one(i: int, j: int, k: int) -> list[Completion]:
                seed = None
                if self.request_seeds:
                    seed = request_seed(params.seed, prompts[i], j)
                async with gate:
                    return await self._sample(session, prompts[i], params, k, seed)

            tasks = [asyncio.ensure_future(one(*job)) for job in jobs]
            try:
                results = await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            out: list[list[Completion]] = [[] for _ in prompts]
            for (i, _, _), comps in zip(jobs, results, strict=True):
                out[i].extend(comps)
            return out
        finally:
            await session.client.aclose()

    async def _count_on_server(self, texts: Sequence[str]) -> list[int]:
        session = self._new_session()
        server = self.servers[0]
        url = f"{server.root.rstrip('/')}/tokenize"
        try:
            counts = []
            for text in texts:
                messages = chat_messages(text)
                body: dict[str, Any] = {"model": self.model}
                if messages is None:
                    body.update(prompt=text, add_special_tokens=False)
                else:
                    body.update(messages=messages, add_generation_prompt=True)
                try:
                    resp = await session.client.post(url, json=body, timeout=PROBE_TIMEOUT_S)
                    count = resp.json().get("count") if resp.status_code == 200 else None
                except (httpx.HTTPError, ValueError, AttributeError):
                    count = None
                if not isinstance(count, int):
                    raise DartError(
                        f"no local tokenizer and {server.shown} cannot count tokens "
                        "(no /tokenize): give --tokenizer"
                    )
                counts.append(count)
            return counts
        finally:
            await session.client.aclose()

    async def _acquire(self, session: _Session) -> int:
        """A slot on the least-loaded server with room (and not cooling down after a
        connection error), servers that answered last before ones that did not: an
        unreachable server has nothing in flight and would otherwise always look least
        loaded. Waits for one."""
        cap = self.connection.server_max_in_flight
        async with session.cond:
            while True:
                now = time.monotonic()
                open_ = [
                    i
                    for i, s in enumerate(self.servers)
                    if session.in_flight[i] < cap and s.cooldown_until <= now
                ]
                if open_:
                    best = min(
                        open_,
                        key=lambda i: (
                            self.servers[i].unreachable > 0,
                            session.in_flight[i],
                            random.random(),
                        ),
                    )
                    session.in_flight[best] += 1
                    session.max_seen[best] = max(session.max_seen[best], session.in_flight[best])
                    total = sum(session.in_flight)
                    self.max_in_flight_seen = max(self.max_in_flight_seen, total)
                    return best
                cooling = [s.cooldown_until for s in self.servers if s.cooldown_until > now]
                wait = max(0.01, min(cooling) - now) if cooling else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.cond.wait(), wait)

    async def _release(self, session: _Session, i: int) -> None:
        async with session.cond:
            session.in_flight[i] -= 1
            session.cond.notify_all()

    async def _wait_pause(self) -> None:
        while (delay := self._pause_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def _warn(self, kind: str, message: str) -> None:
        """A warning at most every WARN_EVERY_S seconds per kind (hundreds of requests in
        flight retry together)."""
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._warned[kind] = now
            logger.warning("%s", self._scrub(message))

    def _fail(self, message: str) -> EngineFailure:
        self._failure = self._scrub(_one_line(message, 400))
        return EngineFailure(self._failure)

    def _payload(
        self, server: _Server, prompt: str, params: GenerationParams, n: int, seed: int | None
    ) -> tuple[str, dict[str, Any]]:
        """The endpoint and body of one request, every sampling setting explicit."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": n,
            "stream": False,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        if server.kind in EXTENDED_SAMPLING:
            body.update(top_k=-1, min_p=0.0, repetition_penalty=1.0)
        if server.kind == "vllm" and n > 1:
            body["return_token_ids"] = True  # per-sample n_tokens (usage sums over choices)
        messages = chat_messages(prompt)
        if messages is not None:
            if "chat" not in self._warned:
                self._warned["chat"] = time.monotonic()
                logger.warning(
                    "no tokenizer for %s: the server applies its chat template "
                    "(/v1/chat/completions); give --tokenizer to render prompts in dart-hf",
                    self.model,
                )
            body["messages"] = messages
            return "chat/completions", body
        bos = getattr(self.tokenizer, "bos_token", None)
        bos = bos if isinstance(bos, str) and bos else None
        starts_with_bos = bos is not None and prompt.startswith(bos)
        if server.kind == "vllm":
            body["add_special_tokens"] = not starts_with_bos  # as the vllm engine does
        elif starts_with_bos and bos is not None and self._adds_bos():
            prompt = prompt[len(bos) :]  # the server's tokenizer adds it again
        body["prompt"] = prompt
        return "completions", body

    def _adds_bos(self) -> bool:
        """Whether the tokenizer adds BOS when it encodes (so a rendered prompt starting
        with BOS would get a second one)."""
        cached = self.__dict__.get("_adds_bos_cache")
        if cached is None:
            tok = self.tokenizer
            try:
                ids = tok("x", add_special_tokens=True)["input_ids"]
                cached = bool(ids) and ids[0] == tok.bos_token_id
            except Exception:
                cached = True
            self.__dict__["_adds_bos_cache"] = cached
        return bool(cached)

    def _read_timeout(self, max_tokens: int) -> httpx.Timeout:
        c = self.connection
        return httpx.Timeout(
            connect=c.timeout_s,
            read=c.timeout_s + c.timeout_per_token_s * max_tokens,
            write=c.timeout_s,
            pool=None,
        )

    async def _healthy(self, session: _Session, server: _Server) -> tuple[bool, str]:
        """Whether the server still answers `/health` with 200 (or, without `/health`,
        its model list)."""
        try:
            resp = await session.client.get(f"{server.root.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S)
            if resp.status_code in (404, 405):
                resp = await session.client.get(endpoint(server.base_url, "models"), timeout=HEALTH_TIMEOUT_S)
            return resp.status_code == 200, f"/health answers {resp.status_code}"
        except httpx.HTTPError as exc:
            return False, f"/health: {_transport_fault(exc)}"

    async def _post(
        self, session: _Session, prompt: str, params: GenerationParams, n: int, seed: int | None
    ) -> tuple[_Server, dict[str, Any]] | _Refused:
        """Send one request until it has an answer: the JSON body, or `_Refused`.

        Raises:
            EngineFailure: Retries spent, a refused key, a wrong URL or model, a dead server.
        """
        c = self.connection
        start = time.monotonic()
        tries = 0
        while True:
            if self._failure is not None:
                raise EngineFailure(self._failure)
            i = await self._acquire(session)
            try:  # a Retry-After may have come while this request waited for its slot
                await self._wait_pause()
            except BaseException:
                await self._release(session, i)
                raise
            server = self.servers[i]
            path, body = self._payload(server, prompt, params, n, seed)
            url = endpoint(server.base_url, path)
            shown = f"{server.shown}/{path}"
            retry_after: float | None = None
            try:
                self.requests_sent += 1
                resp = await session.client.post(
                    url, json=body, timeout=self._read_timeout(params.max_tokens)
                )
                status = resp.status_code
                server.unreachable = 0
                if status == 200:
                    try:
                        data = resp.json()
                    except (ValueError, UnicodeDecodeError):
                        data = None
                    if isinstance(data, dict) and isinstance(data.get("choices"), list):
                        return server, data
                    kind = resp.headers.get("content-type", "?").split(";")[0]
                    fault = f"an answer that is not a completion (200, {kind})"
                elif status in RETRY_STATUS:
                    retry_after = retry_after_s(resp.headers.get("retry-after"))
                    wait = "" if retry_after is None else f"; Retry-After {retry_after:.0f} s"
                    fault = f"{status} ({_server_message(resp)}{wait})"
                elif 300 <= status < 400:
                    raise self._fail(
                        f"{shown} answered {status} (a redirect to "
                        f"{redact_url(resp.headers.get('location', '?'))}): give the final URL "
                        "as --base-url"
                    )
                elif status in (401, 403):
                    raise self._fail(
                        f"{shown} refused the request ({status}: {_server_message(resp)}); "
                        f"check the key ({c.key_source()}) and --header"
                    )
                elif status == 404:
                    raise self._fail(
                        f"{shown} answered 404 ({_server_message(resp)}); check --base-url and --model"
                    )
                elif status >= 500:
                    alive, why = await self._healthy(session, server)
                    if not alive:
                        raise self._fail(
                            f"server died: {server.shown} answered {status} "
                            f"({_server_message(resp)}) and {why}"
                        )
                    return self._refused(status, _server_message(resp))
                else:  # 400, 413, 422, ...: this request alone
                    return self._refused(status, _server_message(resp))
            except httpx.HTTPError as exc:
                fault = _transport_fault(exc)
                if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    server.unreachable += 1
                    server.cooldown_until = time.monotonic() + min(
                        BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(server.unreachable, 6)
                    )
                    if any(s.unreachable == 0 for s in self.servers):
                        # another server answers: send it there, not counted as a retry
                        # (bounded: each such move marks one more server unreachable)
                        self._warn(f"retry {server.base_url}", f"{shown}: {fault}; sent elsewhere")
                        continue
            finally:
                await self._release(session, i)
            tries += 1
            delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**tries))
            if retry_after is not None:
                # every request of the engine waits, not only this one
                delay = max(delay, retry_after)
                self._pause_until = max(self._pause_until, time.monotonic() + retry_after)
            spent = time.monotonic() - start
            if tries > c.request_retries or spent + delay > c.retry_max_s:
                raise self._fail(
                    f"{shown}: {fault}; gave up after {tries} tries in {spent:.0f} s "
                    f"(request_retries {c.request_retries}, retry_max_s {c.retry_max_s:g})"
                )
            self._warn(
                f"retry {server.base_url}",
                f"{shown}: {fault}; retrying in {delay:.1f} s (try {tries + 1} of {c.request_retries + 1})",
            )
            await asyncio.sleep(delay)

    def _refused(self, status: int, message: str) -> _Refused:
        """A request refused for itself: fails its sample, unless it is the
        `bad_request_limit`-th identical refusal in a row (then the command stops)."""
        key = (status, message)
        last, count = self._bad_streak
        count = count + 1 if last == key else 1
        self._bad_streak = (key, count)
        if count >= self.connection.bad_request_limit:
            raise self._fail(
                f"{count} requests in a row refused with {status}: {message} "
                f"(bad_request_limit {self.connection.bad_request_limit})"
            )
        return _Refused(status, self._scrub(message))

    async def _sample(
        self, session: _Session, prompt: str, params: GenerationParams, n: int, seed: int | None
    ) -> list[Completion]:
        """`n` completions of one prompt (one request, or single ones where the server
        does not honour `n`)."""
        server_n_ok = all(s.honours_n is not False for s in self.servers)
        if n > 1 and not (server_n_ok and all(s.kind == "vllm" for s in self.servers)):
            return await self._singly(session, prompt, params, n, seed)
        answer = await self._post(session, prompt, params, n, seed)
        if isinstance(answer, _Refused):
            error = f"{answer.status}: {answer.message}"
            return [Completion("", "error", 0, error=error)] * n
        server, data = answer
        self._bad_streak = ((0, ""), 0)
        choices = [c for c in data["choices"] if isinstance(c, dict)]
        choices.sort(key=lambda c: int(c.get("index") or 0))
        if n > 1:
            if len(choices) != n:
                server.honours_n = False
                self._warn(
                    "n",
                    f"{server.shown} answered {len(choices)} choices to n={n}: one request "
                    "per sample from now on",
                )
                comps = [self._completion(c, data, params, len(choices)) for c in choices[:n]]
                return comps + await self._singly(session, prompt, params, n - len(comps), seed)
            server.honours_n = True
        elif not choices:
            return [Completion("", "error", 0, error="the server answered no choice")]
        return [self._completion(c, data, params, n) for c in choices[:n]]

    async def _singly(
        self, session: _Session, prompt: str, params: GenerationParams, n: int, seed: int | None
    ) -> list[Completion]:
        """`n` completions of one prompt, one request each, sent together."""
        parts = await asyncio.gather(*(self._sample(session, prompt, params, 1, seed) for _ in range(n)))
        return [c for part in parts for c in part]

    def _completion(
        self, choice: dict[str, Any], data: dict[str, Any], params: GenerationParams, n: int
    ) -> Completion:
        if "message" in choice:
            message = choice.get("message") or {}
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        text = text if isinstance(text, str) else ""
        reason = choice.get("finish_reason")
        usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
        tokens: Any = None
        if isinstance(choice.get("token_ids"), list):
            tokens = len(choice["token_ids"])
        elif n == 1:
            tokens = usage.get("completion_tokens")
        if not isinstance(tokens, int):
            tokens = (
                len(self.tokenizer.encode(text, add_special_tokens=False))
                if not self.server_renders_chat
                else 0
            )
        hits = [p for p in (text.find(s) for s in params.stop) if p >= 0]
        if hits:  # a server that kept the stop string in its text
            text = text[: min(hits)]
        if reason in ("stop", "length"):
            return Completion(text, str(reason), tokens)
        return Completion(text, "error", tokens, error=f"the server ended the sample with {reason!r}")
