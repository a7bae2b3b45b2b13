"""Shared fixtures: offline Hub, the shared data folder, and engines built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DART_HF_TEST_DATA") or REPO.parent / "shared" / "data")
"""The full data folder: ../shared/data next to the checkout, or DART_HF_TEST_DATA."""


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full data folder (../shared/data); tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not present (set DART_HF_TEST_DATA to the data folder)")
    return SHARED_DATA


# ---------------------------------------------------------------- engines (issue 3)
# One vLLM engine per session (eager, small KV cache) and one transformers engine; tests that
# need a real engine take these fixtures (or pass the same specs to get_engine, which reuses
# the engine built for an equal spec) so at most two live at once.


@pytest.fixture(scope="session")
def vllm_spec():
    """Spec of the session's vLLM engine on the embedded model."""
    from dart_hf.engines import EngineSpec

    return EngineSpec(
        backend="vllm", max_model_len=2048, options=(("enforce_eager", True), ("kv_cache_gib", 1))
    )


@pytest.fixture(scope="session")
def vllm_engine(vllm_spec):
    """The session's vLLM engine (skips where vllm is not installed)."""
    pytest.importorskip("vllm")
    from dart_hf.engines import get_engine, release_engine

    engine = get_engine(vllm_spec)
    yield engine
    release_engine(vllm_spec)


@pytest.fixture(scope="session")
def hf_spec():
    """Spec of the session's transformers engine (1 thread: robust on a busy 2-core machine)."""
    from dart_hf.engines import EngineSpec

    return EngineSpec(backend="transformers", options=(("batch_size", 8), ("num_threads", 1)))


@pytest.fixture(scope="session")
def hf_engine(hf_spec):
    """The session's transformers engine on the embedded model."""
    from dart_hf.engines import get_engine, release_engine

    engine = get_engine(hf_spec)
    yield engine
    release_engine(hf_spec)
