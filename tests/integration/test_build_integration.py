"""`dart-hf build` with the `ci` recipe on the real embedded model (vLLM on CPU)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner
from datasets import load_dataset

from dart_hf.cli import cli
from dart_hf.folders import BuildFolder
from dart_hf.recipe import load_recipe


def test_ci_profile_on_embedded_model(tmp_path: Path) -> None:
    """The `ci` recipe end to end on the real embedded model (vLLM on CPU)."""
    out = tmp_path / "ci"
    res = CliRunner().invoke(cli, ["build", "--config", "ci", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "resp/q" in res.output and "stop reasons" in res.output
    for name in ("dart-math-uniform", "dart-math-hard"):
        ds = load_dataset(str(out / "releases" / name), split="train")
        assert len(ds) > 0, name
        assert ds.column_names[:2] == ["query", "response"]
    info = pq.read_table(out / "state" / f"round-{BuildFolder(out).last_round():03d}.parquet")
    assert info.num_rows == load_recipe("ci")["limit"]
