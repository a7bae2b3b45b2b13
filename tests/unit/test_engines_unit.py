"""Engines without an engine: the registry, specs, and missing packages named with a pip line."""

from __future__ import annotations

import pickle
import sys

import pytest

from dart_hf.engines import EngineSpec, backend_class
from dart_hf.errors import DartError


def test_unknown_engine_lists_valid() -> None:
    with pytest.raises(DartError, match="unknown engine 'tgi'; valid: openai, scripted, transformers, vllm"):
        backend_class("tgi")


def test_spec_pickles_and_hashes() -> None:
    spec = EngineSpec(backend="vllm", options=(("enforce_eager", True),))
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert hash(spec) == hash(EngineSpec(backend="vllm", options=(("enforce_eager", True),)))


@pytest.mark.parametrize(("backend", "module"), [("vllm", "vllm"), ("transformers", "torch")])
def test_missing_package_names_pip_line(backend: str, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(DartError, match="pip install"):
        backend_class(backend)(EngineSpec(backend=backend))
