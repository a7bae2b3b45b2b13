"""The unit layer's guard: a unit test that starts a process (a subprocess, a multiprocessing or
multiprocess worker, the grading pool, Ray), or builds a real engine or loads a real model or
tokenizer, fails and names what it did; such a test belongs in tests/e2e or tests/integration.

Attempts that fail (a bogus GGUF, a blocked import) are not counted: only what really ran.
"""

from __future__ import annotations

import multiprocessing.process
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

REAL_ENGINES = ("vllm", "transformers")
MOVE = "start processes in tests/e2e, real engines and models in tests/integration"


def _record(seen: list[str], what: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """`original`, noting `what` in `seen` each time it returns."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        seen.append(what)
        return result

    return wrapper


SEEN = pytest.StashKey[list[str]]()


def _failure(seen: list[str]) -> str:
    return f"a unit test ran {', '.join(sorted(set(seen)))}: {MOVE}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself (not its teardown) when it, or its fixtures, started anything."""
    result = yield
    seen = item.stash.get(SEEN, [])
    if seen:
        what = list(seen)
        seen.clear()  # the guard's teardown reports only what starts after this
        pytest.fail(_failure(what), pytrace=False)
    return result


@pytest.fixture(autouse=True)
def _unit_layer_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    seen: list[str] = []
    request.node.stash[SEEN] = seen
    guarded: list[tuple[Any, str, str]] = [
        (subprocess.Popen, "__init__", "a subprocess"),
        (multiprocessing.process.BaseProcess, "start", "a multiprocessing process"),
    ]
    if "multiprocess" in sys.modules or _importable("multiprocess"):
        import multiprocess.process  # datasets' map(num_proc=N) workers

        guarded.append((multiprocess.process.BaseProcess, "start", "a multiprocess worker"))
    from dart_hf import engines
    from dart_hf.grading import grade

    guarded.append((grade, "get_pool", "the grading pool"))
    for name in REAL_ENGINES:  # the classes themselves: callers read their attributes too
        cls = engines.backend_class(name)
        guarded.append((cls, "__init__", f"a real engine ({name})"))
    if "transformers" in sys.modules:
        import transformers

        guarded += [
            (transformers.PreTrainedModel, "from_pretrained", "a model load"),
            (transformers.PreTrainedTokenizerBase, "from_pretrained", "a tokenizer load"),
        ]
    for owner, name, what in guarded:
        original = getattr(owner, name)
        if isinstance(owner, type) and isinstance(owner.__dict__.get(name), classmethod):
            func = original.__func__
            wrapped = classmethod(_record(seen, what, func))
        else:
            wrapped = _record(seen, what, original)
        monkeypatch.setattr(owner, name, wrapped)
    yield
    if seen:  # started after the test's call: in the teardown of a fixture
        pytest.fail(_failure(seen), pytrace=False)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
