"""`python -m dart_hf` (`dart_hf/__main__.py`) is the `dart-hf` command."""

from __future__ import annotations

import subprocess
import sys

from dart_hf import __version__


def test_python_m_dart_hf_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dart_hf", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"dart-hf, version {__version__}"
