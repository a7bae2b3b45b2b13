"""Generation backends behind one interface, built lazily, once per process.

`get_engine(spec)` returns the process-wide engine for a spec; stages receive the spec (which
pickles and hashes cheaply) and never the engine itself, so datasets' fingerprints stay stable.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from dart_hf.engines.base import Completion, Engine, EngineSpec, GenerationParams
from dart_hf.errors import DartError, unknown_name
from dart_hf.logs import engine_output

# name -> "module:Class"; imported only when used, so heavy packages load lazily.
BACKENDS: dict[str, str] = {
    "vllm": "dart_hf.engines.vllm_engine:VLLMEngine",
    "transformers": "dart_hf.engines.hf_engine:TransformersEngine",
    "scripted": "dart_hf.engines.scripted:ScriptedEngine",
    "openai": "dart_hf.engines.openai_engine:OpenAIEngine",
}

_ENGINES: dict[EngineSpec, Any] = {}
_BUILD_LOCK = threading.RLock()  # engine actors build from several threads at once


def backend_class(name: str) -> Any:
    """Import and return the engine class registered under `name`."""
    if name not in BACKENDS:
        raise unknown_name("engine", name, BACKENDS)
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def check_options(backend: str, options: dict[str, Any]) -> None:
    """Refuse engine options the backend does not read, before any engine starts.

    Each engine class declares the option names it accepts as `OPTIONS` (a class without
    it is not checked).

    Raises:
        DartError: One line naming the unknown options and the valid ones.
    """
    valid = getattr(backend_class(backend), "OPTIONS", None)
    if valid is None:
        return
    unknown = sorted(set(options) - set(valid))
    if "tensor_parallel_size" in unknown:  # set by --tensor-parallel-size, a vLLM setting
        raise DartError(
            f"--tensor-parallel-size (tensor_parallel_size) splits one vLLM engine over GPUs; "
            f"the {backend} engine has no such setting: leave it out, or use --engine vllm"
        )
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise DartError(
            f"the {backend} engine has no option {names} (engine_options / --engine-option); "
            f"valid: {', '.join(sorted(valid)) or 'none'}"
        )


def check_model(backend: str, model: str | None) -> None:
    """Fail early on a model the engine cannot have: a local path that does not exist, or any
    path for the scripted engine (a simulation that loads no model: `model` is only its label,
    and a path there would be written into the cards as if it had been sampled)."""
    from pathlib import Path

    if model is None or backend == "openai":  # a served id names the server's model
        return
    looks_local = model.startswith((".", "/", "~")) or Path(model).expanduser().exists()
    if backend == "scripted":
        if looks_local:
            raise DartError(
                f"--model {model!r}: the scripted engine is a simulation and loads no model; "
                "leave --model out, or give a label that is not a path"
            )
        return
    if looks_local and not Path(model).expanduser().exists():
        raise DartError(f"model path {model!r} does not exist")


def get_engine(spec: EngineSpec) -> Engine:
    """Return this process's engine for `spec`, building it on first use."""
    engine = _ENGINES.get(spec)
    if engine is None:
        with _BUILD_LOCK:
            engine = _ENGINES.get(spec)
            if engine is None:
                check_options(spec.backend, dict(spec.options))
                with engine_output(spec.backend):  # its own output to the command's log file
                    engine = backend_class(spec.backend)(spec)
                _ENGINES[spec] = engine
    return engine


def release_engine(spec: EngineSpec) -> None:
    """Close and drop this process's engine for `spec`, if one was built."""
    engine = _ENGINES.pop(spec, None)
    close = getattr(engine, "close", None)
    if close is not None:
        close()


def release_engines() -> None:
    """Drop every cached engine (tests use it to bound memory)."""
    for engine in _ENGINES.values():
        close = getattr(engine, "close", None)
        if close is not None:
            close()
    _ENGINES.clear()


__all__ = [
    "BACKENDS",
    "Completion",
    "Engine",
    "EngineSpec",
    "GenerationParams",
    "backend_class",
    "check_model",
    "check_options",
    "get_engine",
    "release_engine",
    "release_engines",
]
