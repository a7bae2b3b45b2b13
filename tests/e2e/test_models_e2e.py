"""Where the model cache lives, as a fresh process resolves it (HF_HOME, XDG, DART_HF_CACHE)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_cache_follows_hf_home_and_xdg(tmp_path: Path) -> None:
    """`<HF_HOME>/dart_hf` as huggingface_hub resolves HF_HOME; DART_HF_CACHE still wins."""
    code = "from dart_hf.engines.models import cache_root; print(cache_root())"
    base = {k: v for k, v in os.environ.items() if k not in ("HF_HOME", "XDG_CACHE_HOME", "DART_HF_CACHE")}
    cases = [
        ({"HF_HOME": str(tmp_path / "hf")}, tmp_path / "hf" / "dart_hf"),
        ({"XDG_CACHE_HOME": str(tmp_path / "xdg")}, tmp_path / "xdg" / "huggingface" / "dart_hf"),
        ({"HF_HOME": str(tmp_path / "hf"), "DART_HF_CACHE": str(tmp_path / "own")}, tmp_path / "own"),
        ({"HOME": str(tmp_path / "h")}, tmp_path / "h" / ".cache" / "huggingface" / "dart_hf"),
    ]
    for env, expected in cases:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-1000:]
        assert proc.stdout.strip() == str(expected), env
