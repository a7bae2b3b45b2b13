"""`dart-hf regrade` refuses an evaluation folder whose raw samples are incomplete."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dart_hf.cli import cli


def test_eval_folder_with_missing_shards_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    (out / "samples" / "gsm8k" / "seed-0").mkdir(parents=True)
    (out / "results.json").write_text(
        json.dumps(
            {
                "settings": {
                    "benchmarks": ["gsm8k"],
                    "seeds": [0],
                    "template": "alpaca",
                    "limit": 4,
                    "shard_size": 2,
                    "engine": {
                        "backend": "scripted",
                        "model": None,
                        "seed": 0,
                        "dtype": "bfloat16",
                        "max_model_len": 4096,
                        "options": {},
                    },
                }
            }
        )
    )
    result = CliRunner().invoke(cli, ["regrade", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "raw samples are incomplete" in result.output
    assert len(result.output.strip().splitlines()) == 1
