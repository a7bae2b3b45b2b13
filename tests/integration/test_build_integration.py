"""`dart-hf build` with the `ci` recipe on the real embedded model (vLLM on CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner
from datasets import load_dataset

from dart_hf.cli import cli
from dart_hf.engines import EngineSpec
from dart_hf.folders import BuildFolder
from dart_hf.recipe import load_recipe


def test_ci_profile_on_embedded_model(tmp_path: Path, vllm_spec: EngineSpec, vllm_engine: object) -> None:
    """The `ci` recipe end to end on the real embedded model (vLLM on CPU).

    Its settings as they are, with the session engine's options (eager, a 1 GiB KV cache), so
    the build samples with the session's vLLM engine instead of starting a second one (whose
    compiled start took 65-105 s here, and which stayed alive for the rest of the session).
    """
    recipe = {k: v for k, v in load_recipe("ci").items() if k != "description"}
    assert recipe["engine"] == "vllm" and recipe["max_model_len"] == vllm_spec.max_model_len
    recipe["engine_options"] = dict(vllm_spec.options)
    path = tmp_path / "ci.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    out = tmp_path / "ci"
    res = CliRunner().invoke(cli, ["build", "--config", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "resp/q" in res.output and "stop reasons" in res.output
    for name in ("dart-math-uniform", "dart-math-hard"):
        ds = load_dataset(str(out / "releases" / name), split="train")
        assert len(ds) > 0, name
        assert ds.column_names[:2] == ["query", "response"]
    info = pq.read_table(out / "state" / f"round-{BuildFolder(out).last_round():03d}.parquet")
    assert info.num_rows == load_recipe("ci")["limit"]
    for manifest in sorted((out / "rounds").glob("round-*/sampling.json")):  # the session's
        engine = json.loads(manifest.read_text(encoding="utf-8"))["engine"]
        assert EngineSpec.from_dict(engine) == vllm_spec, manifest
