"""Shared fixtures (offline Hub, the shared data folder, engines built once per session) and
the test layers: a test's folder sets its marker and its time limit (see LAYERS)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
if str(TESTS) not in sys.path:  # helpers.py, hub_server.py: importable from every layer
    sys.path.insert(0, str(TESTS))
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


# ---------------------------------------------------------------- layers (issue 22)
# Every test file sits in one layer folder; the folder gives its tests their marker (so
# `pytest tests/unit` and `pytest -m unit` select the same tests) and a time limit for the
# whole test, setup and teardown included: a session fixture built by the first test that
# needs it (an engine: 20-70 s here, a server: up to 3 minutes) must fit in it. The limits
# use pytest-timeout's thread method: Math-Verify's own timeouts call signal.alarm, which would
# cancel a SIGALRM-based limit. A test past its limit ends the run with every thread's stack.

LAYERS = {
    "unit": 60,  # no engine, subprocess, grading pool, whole run, real model or Ray
    "e2e": 300,  # scripted builds and evaluations, CLI runs, kills, the grading pool, fake Hub
    "integration": 1200,  # real engines, the embedded model, Ray, the full data folder
    "gpu": 300,  # CUDA paths on a tiny random model (a CPU twin of each runs anywhere)
}
"""Layer folder -> per-test limit in seconds (times $DART_HF_TEST_TIMEOUT_SCALE, default 1)."""
REAL = {"shared_data", "vllm_engine", "hf_engine"}
"""Fixtures that need the full data or a real engine: only integration and gpu tests take them."""


def layer_of(path: Path) -> str | None:
    """The layer folder a test file sits in (None: directly in tests/ or elsewhere)."""
    try:
        rel = Path(path).resolve().relative_to(TESTS)
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in LAYERS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    scale = float(os.environ.get("DART_HF_TEST_TIMEOUT_SCALE") or 1)
    own_limit = config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT")
    problems = []
    for item in items:
        inside = Path(str(item.path)).resolve().is_relative_to(TESTS)
        layer = layer_of(item.path)
        if layer is None:
            if inside:
                problems.append(f"{item.nodeid}: not in a layer folder ({', '.join(LAYERS)})")
            continue
        for other in LAYERS:
            if other != layer and item.get_closest_marker(other) is not None:
                problems.append(f"{item.nodeid}: marked {other} but in tests/{layer}")
        needs = sorted(REAL & set(getattr(item, "fixturenames", ())))
        if needs and layer in ("unit", "e2e"):
            problems.append(f"{item.nodeid}: takes {', '.join(needs)}; move it to integration")
        item.add_marker(getattr(pytest.mark, layer))
        if not own_limit:  # --timeout or PYTEST_TIMEOUT on the command line wins
            item.add_marker(pytest.mark.timeout(LAYERS[layer] * scale, method="thread"))
    if problems:
        raise pytest.UsageError("test layers (tests/conftest.py):\n  " + "\n  ".join(problems))
