"""What a default `dart-hf sample` on the real vLLM engine prints, and what goes to its log."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

VLLM_RECIPE = """\
engine: vllm
engine_options: {enforce_eager: true, kv_cache_gib: 1}
max_model_len: 2048
pool: gsm8k
limit: 2
n: 1
max_tokens: 16
"""


VLLM_LINE = re.compile(r"(?:^|\) )(?:INFO|WARNING|DEBUG) \d\d-\d\d \d\d:\d\d:\d\d|EngineCore", re.M)


def test_default_sample_on_vllm_keeps_engine_output_in_the_log(tmp_path: Path) -> None:
    """A default `dart-hf sample` on the real vLLM engine: the bar and the summary in the
    terminal, the engine's own lines (its engine-core process included) in OUT/dart-hf.log."""
    import os
    import subprocess

    pytest.importorskip("vllm")
    recipe = tmp_path / "vllm.yaml"
    recipe.write_text(VLLM_RECIPE, encoding="utf-8")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    }
    env.pop("TQDM_DISABLE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "dart_hf", "sample", "--config", str(recipe), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    terminal = proc.stdout + proc.stderr
    assert proc.returncode == 0, terminal[-3000:]
    assert "sampling round 0" in terminal and "tok/s" in terminal
    assert terminal.count(f"engine log: {out / 'dart-hf.log'}") == 1
    assert not VLLM_LINE.search(terminal), VLLM_LINE.search(terminal)
    assert proc.stdout.strip(), "no summary"
    log = (out / "dart-hf.log").read_text(encoding="utf-8")
    assert VLLM_LINE.search(log) and "EngineCore" in log
