"""How dart-hf reaches OpenAI-compatible servers: URLs, the key's source, headers, limits.

A `ServerConnection` travels beside the `EngineSpec` (its `connection` field), never inside
what the spec records: `EngineSpec.to_dict()` (which `sampling.json`, `build.json` and the
fingerprints hold) leaves it out, so a build resumes against another URL, key or concurrency,
and no URL or secret lands in a record.

It holds *where* secrets are, never the secrets: the key comes from an environment variable
(`OPENAI_API_KEY` unless `api_key_env` names another) or a file (`api_key_file`), read when a
client is made. A header value is a literal, `env:NAME` or `file:PATH`; an auth-like header
(Authorization, Cookie, *key*, *token*, *secret*) must use `env:` or `file:`, so no secret is
ever a plain value on a command line, in a recipe, or in a pickle sent to Ray workers.

Everything dart-hf prints about a server goes through `redact_url` (no userinfo, query or
fragment) and `Secrets.scrub` (every key and header value replaced by `***`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dart_hf.errors import DartError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_AUTH_LIKE = re.compile(r"authorization|cookie|key|token|secret|password|credential", re.I)


def redact_url(url: str) -> str:
    """`url` without userinfo, query or fragment (what logs and messages may show)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "<invalid URL>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def normalise_base_url(url: str) -> str:
    """Check one `--base-url` and return it in OpenAI-client form (ending in `/v1` for a
    bare server address: `http://host:8000` and `http://host:8000/v1` are the same server).

    Raises:
        DartError: Not http(s), no host, credentials in the URL, or a fragment (one line).
    """
    text = url.strip()
    if "://" not in text:
        shown = f" {text!r}" if "@" not in text and len(text) < 200 else ""
        raise DartError(
            f"--base-url{shown}: give a full URL with http:// or https:// (e.g. http://HOST:8000/v1)"
        )
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise DartError(f"--base-url {redact_url(text)!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise DartError(
            f"--base-url {redact_url(text)!r}: the scheme must be http or https (e.g. http://HOST:8000/v1)"
        )
    if not parts.hostname:
        raise DartError(f"--base-url {redact_url(text)!r} has no host")
    if parts.username or parts.password:
        raise DartError(
            f"--base-url {redact_url(text)!r}: credentials in the URL are refused (they would "
            "show in process lists and shell history); give the key with --api-key-env or "
            "--api-key-file, or a header with --header NAME:env:VAR"
        )
    if parts.fragment:
        raise DartError(f"--base-url {redact_url(text)!r}: a URL fragment (#...) is not allowed")
    path = parts.path.rstrip("/")
    if path == "":
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def server_root(base_url: str) -> str:
    """The server's own address for `/health` and `/version` (the base URL without `/v1`)."""
    parts = urlsplit(base_url)
    path = parts.path[: -len("/v1")] if parts.path.endswith("/v1") else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def endpoint(base_url: str, name: str) -> str:
    """`base_url` + `/name`, keeping the base URL's query (e.g. an `api-version`)."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"{parts.path}/{name}", parts.query, ""))


def _check_secret_file(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        # A path is shown only where it looks like one: a key pasted here must not be echoed.
        shown = f" {path!r}" if ("/" in path or "." in path) and len(path) < 256 else ""
        raise DartError(
            f"{what}: no such file{shown} (it takes the path of a file that holds the value, "
            "never the value itself)"
        )
    return p


def _read_secret_file(path: str, what: str) -> str:
    p = _check_secret_file(path, what)
    try:
        value = p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DartError(f"{what}: cannot read {path!r} ({type(exc).__name__})") from None
    if not value or "\n" in value:
        raise DartError(f"{what}: {path!r} must hold exactly one non-empty line")
    return value


def _check_env_name(name: str, what: str) -> None:
    if not _ENV_NAME.match(name):
        raise DartError(
            f"{what} takes the NAME of an environment variable (letters, digits, _), never the secret itself"
        )


def _read_env(name: str, what: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise DartError(f"{what}: the environment variable {name} is not set")
    return value


@dataclass(frozen=True)
class Header:
    """One extra request header: a name and where its (secret) value comes from.

    Attributes:
        name: Header name (e.g. `Authorization`, `X-Tenant`).
        source: `env:NAME`, `file:PATH` or a literal value (refused for auth-like names).
    """

    name: str
    source: str

    @classmethod
    def parse(cls, text: str) -> Header:
        """Parse `--header NAME:VALUE` (VALUE a literal, `env:VAR` or `file:PATH`)."""
        name, sep, source = text.partition(":")
        name, source = name.strip(), source.strip()
        if not sep or not name or not source:
            raise DartError("--header takes NAME:VALUE, NAME:env:VAR or NAME:file:PATH")
        return cls(name, source)

    def __post_init__(self) -> None:
        if not _HEADER_NAME.match(self.name):
            raise DartError(f"--header: {self.name[:40]!r} is not a valid header name")
        kind, _, ref = self.source.partition(":")
        if kind == "env":
            _check_env_name(ref, f"--header {self.name}:env:")
        elif kind == "file":
            if not ref:
                raise DartError(f"--header {self.name}:file: needs a path")
        elif _AUTH_LIKE.search(self.name):
            raise DartError(
                f"--header {self.name}: a credential is never given as a plain value; use "
                f"{self.name}:env:VAR (an environment variable) or {self.name}:file:PATH"
            )

    def value(self) -> str:
        """Read the value now (from the environment or the file, or the literal)."""
        kind, _, ref = self.source.partition(":")
        if kind == "env":
            return _read_env(ref, f"--header {self.name}")
        if kind == "file":
            return _read_secret_file(ref, f"--header {self.name}")
        return self.source

    def __repr__(self) -> str:
        kind = self.source.partition(":")[0]
        shown = self.source if kind in ("env", "file") else "***"
        return f"Header({self.name!r}, {shown!r})"


@dataclass(frozen=True)
class Secrets:
    """The secret values one client uses, read at use time; never pickled or recorded."""

    api_key: str | None
    headers: tuple[tuple[str, str], ...]

    def scrub(self, text: str) -> str:
        """`text` with every secret value replaced by `***`."""
        for secret in (self.api_key, *(v for _, v in self.headers)):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return "Secrets(***)"

    def __reduce__(self) -> tuple:
        raise TypeError("Secrets are never pickled")


@dataclass(frozen=True)
class ServerConnection:
    """How to reach one model served behind one or more OpenAI-compatible base URLs.

    None of it is part of a fingerprint or record; none of it is a secret (sources only).

    Attributes:
        base_urls: One or more base URLs (`http(s)://HOST:PORT[/v1]`); requests go to the
            least-loaded one.
        api_key_env: Environment variable holding the key (default: `OPENAI_API_KEY` when it
            is set; no key otherwise, as a local vLLM server expects).
        api_key_file: File holding the key (one line); excludes `api_key_env`.
        headers: Extra headers (`Header`), values read at use time and kept secret.
        ca_bundle: CA bundle (PEM file or folder) to verify TLS against; default
            `SSL_CERT_FILE`/`SSL_CERT_DIR` when set, else certifi's bundle. TLS is always
            verified. Proxies come from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...).
        server_max_in_flight: Requests in flight per server (the stage's `max_in_flight`
            caps the total; its default is this times the number of servers).
        request_retries: Retries of one request on connection errors, timeouts, 408, 429,
            502-504 and truncated answers, before the command stops.
        retry_max_s: The most seconds one request spends retrying.
        bad_request_limit: This many identical 400s in a row stop the command (a single
            400 fails only its sample).
        timeout_s: Connect timeout, and the read timeout's fixed part.
        timeout_per_token_s: The read timeout's part per requested token (`max_tokens`).
        cpu_server: The server is a CPU vLLM server dart-hf started (`--serve`): seeded
            requests crash it, so they are refused.
        model_hash: The served folder's content hash when dart-hf knows it (`--serve`);
            otherwise provenance holds a stand-in derived from the served id and root.
    """

    base_urls: tuple[str, ...]
    api_key_env: str | None = None
    api_key_file: str | None = None
    headers: tuple[Header, ...] = ()
    ca_bundle: str | None = None
    server_max_in_flight: int = 256
    request_retries: int = 8
    retry_max_s: float = 600.0
    bad_request_limit: int = 5
    timeout_s: float = 60.0
    timeout_per_token_s: float = 0.2
    cpu_server: bool = False
    model_hash: str | None = None

    def __post_init__(self) -> None:
        urls = (self.base_urls,) if isinstance(self.base_urls, str) else tuple(self.base_urls)
        if not urls:
            raise DartError("the openai engine needs at least one --base-url")
        normalised = tuple(normalise_base_url(u) for u in urls)
        if len(set(normalised)) != len(normalised):
            raise DartError("--base-url: the same server is given twice")
        object.__setattr__(self, "base_urls", normalised)
        headers = tuple(Header.parse(h) if isinstance(h, str) else h for h in self.headers)
        object.__setattr__(self, "headers", headers)
        if self.api_key_env is not None and self.api_key_file is not None:
            raise DartError("give the key with --api-key-env or --api-key-file, not both")
        if self.api_key_env is not None:
            _check_env_name(self.api_key_env, "--api-key-env")
        if self.api_key_file is not None:
            _check_secret_file(self.api_key_file, "--api-key-file")
        if self.ca_bundle is not None and not Path(self.ca_bundle).expanduser().exists():
            raise DartError(f"--ca-bundle {self.ca_bundle!r} does not exist")
        for name in ("server_max_in_flight", "bad_request_limit"):
            if int(getattr(self, name)) < 1:
                raise DartError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.request_retries < 0:
            raise DartError(f"request_retries must be >= 0, got {self.request_retries}")
        for name in ("retry_max_s", "timeout_s", "timeout_per_token_s"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0 or (name == "timeout_s" and value == 0):
                raise DartError(f"{name} must be a positive number, got {value}")

    def read_secrets(self) -> Secrets:
        """Read the key and header values from their sources, now.

        Raises:
            DartError: A named variable unset, a key file missing or empty (one line; the
                message never holds a secret).
        """
        key: str | None
        if self.api_key_file is not None:
            key = _read_secret_file(self.api_key_file, "--api-key-file")
        elif self.api_key_env is not None:
            key = _read_env(self.api_key_env, "--api-key-env")
        else:
            key = os.environ.get(DEFAULT_KEY_ENV, "").strip() or None
        return Secrets(key, tuple((h.name, h.value()) for h in self.headers))

    def key_source(self) -> str:
        """Where the key comes from, in words (for logs and cards; never the key)."""
        if self.api_key_file is not None:
            return "key file"
        if self.api_key_env is not None:
            return f"${self.api_key_env}"
        return f"${DEFAULT_KEY_ENV}" if os.environ.get(DEFAULT_KEY_ENV) else "no key"

    def __repr__(self) -> str:
        urls = ", ".join(redact_url(u) for u in self.base_urls)
        return f"ServerConnection({urls}; key: {self.key_source()})"
