"""The test layers themselves (tests/conftest.py, tests/unit/conftest.py), checked on a copy of
the two conftest files with small test files beside them, each run by pytest in a child process:
a test past its layer's time limit fails the run, markers follow the folder, a test outside a
layer folder or one that takes the full data from the unit layer is refused, and the unit
layer's guard fails a unit test that starts a process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

LIMITS = {"unit": 60, "e2e": 300, "integration": 1200, "gpu": 300}
"""What tests/conftest.py's LAYERS says (checked below), in seconds."""
SHORT = 8.0
"""Each layer's limit in the timing runs, in seconds ($DART_HF_TEST_TIMEOUT_SCALE per run)."""


def _project(root: Path, files: dict[str, str]) -> Path:
    """A tests/ folder with the real conftest files and `files` (relative path -> text)."""
    tests = root / "tests"
    for conftest in ("conftest.py", "unit/conftest.py"):
        (tests / conftest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "tests" / conftest, tests / conftest)
    for rel, text in files.items():
        (tests / rel).parent.mkdir(parents=True, exist_ok=True)
        (tests / rel).write_text(text, encoding="utf-8")
    return tests


def _pytest(tests: Path, *args: str, scale: float | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PYTEST_TIMEOUT", None)
    env.pop("PYTEST_ADDOPTS", None)
    if scale is not None:
        env["DART_HF_TEST_TIMEOUT_SCALE"] = str(scale)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.Popen(
        cmd, cwd=tests.parent, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _run(tests: Path, *args: str) -> tuple[int, str]:
    proc = _pytest(tests, *args)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out


def test_the_limits_are_the_documented_ones(pytestconfig: pytest.Config) -> None:
    root = REPO / "tests" / "conftest.py"
    (conftest,) = [
        p for p in pytestconfig.pluginmanager.get_plugins() if Path(getattr(p, "__file__", "") or "") == root
    ]
    assert conftest.LAYERS == LIMITS


def test_a_test_past_its_layers_limit_fails_the_run(tmp_path: Path) -> None:
    """One run per layer, side by side: a test sleeping 120 s is stopped at its layer's limit
    (scaled to SHORT seconds), with the stacks of every thread, and the run fails."""
    slow = "import time\n\ndef test_too_slow():\n    time.sleep(120)\n"
    tests = _project(tmp_path, {f"{layer}/test_slow_{layer}.py": slow for layer in LIMITS})
    started = time.monotonic()
    runs = {layer: _pytest(tests, f"tests/{layer}", scale=SHORT / limit) for layer, limit in LIMITS.items()}
    for layer, proc in runs.items():
        out, _ = proc.communicate(timeout=300)
        took = time.monotonic() - started
        assert proc.returncode != 0, out
        assert "Timeout" in out and "test_too_slow" in out and "time.sleep(120)" in out, out
        assert took >= SHORT, (layer, took)
    assert time.monotonic() - started < 100, "a limit did not stop its test"


def test_no_limit_for_a_test_within_it(tmp_path: Path) -> None:
    quick = "import time\n\ndef test_quick():\n    time.sleep(0.3)\n"
    tests = _project(tmp_path, {"unit/test_quick.py": quick})
    proc = _pytest(tests, "tests/unit", scale=SHORT / LIMITS["unit"])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "1 passed" in out, out


def test_markers_follow_the_folder(tmp_path: Path) -> None:
    tests = _project(
        tmp_path, {f"{layer}/test_{layer}_one.py": "def test_it():\n    pass\n" for layer in LIMITS}
    )
    for layer in LIMITS:
        code, out = _run(tests, "--collect-only", "-m", layer)
        assert code == 0, out
        assert f"tests/{layer}/test_{layer}_one.py::test_it" in out, out
        assert out.count("::test_it") == 1, out
    code, out = _run(tests, "--collect-only", "-m", "not integration and not gpu")
    assert out.count("::test_it") == 2, out


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"test_loose.py": "def test_it():\n    pass\n"}, "not in a layer folder"),
        (
            {"unit/test_data.py": "def test_it(shared_data):\n    pass\n"},
            "takes shared_data; move it to integration",
        ),
        (
            {"e2e/test_engine.py": "def test_it(vllm_engine):\n    pass\n"},
            "takes vllm_engine; move it to integration",
        ),
        (
            {"unit/test_marked.py": "import pytest\n\n@pytest.mark.integration\ndef test_it():\n    pass\n"},
            "marked integration but in tests/unit",
        ),
    ],
    ids=["outside", "unit-data", "e2e-engine", "contradicting-marker"],
)
def test_misplaced_tests_are_refused(tmp_path: Path, files: dict[str, str], message: str) -> None:
    code, out = _run(_project(tmp_path, files), "--collect-only")
    assert code != 0 and message in out, out


def test_the_unit_guard_fails_a_test_that_starts_a_process(tmp_path: Path) -> None:
    body = (
        "import subprocess, sys\n\n"
        "def test_spawns():\n"
        "    subprocess.run([sys.executable, '-c', 'pass'], check=True)\n\n"
        "def test_calm():\n"
        "    assert sum([1, 2]) == 3\n"
    )
    tests = _project(tmp_path, {"unit/test_guard.py": body, "e2e/test_guard_e2e.py": body})
    code, out = _run(tests, "tests/unit", "tests/e2e", "-rA")
    assert code != 0, out
    assert "FAILED tests/unit/test_guard.py::test_spawns" in out, out
    assert "a unit test ran a subprocess" in out, out
    assert "PASSED tests/unit/test_guard.py::test_calm" in out, out
    assert "PASSED tests/e2e/test_guard_e2e.py::test_spawns" in out, out  # e2e may
