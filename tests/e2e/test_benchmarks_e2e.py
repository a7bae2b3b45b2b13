"""A benchmark added as one record and its data, evaluated end to end (scripted engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import TINY_BENCHMARK as TINY
from helpers import register_tiny_benchmark

from dart_hf.sampling import fewshot


@pytest.fixture
def tiny_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register `tinyarith` (one record) over a tiny JSONL in a data dir of its own."""
    return register_tiny_benchmark(tmp_path, monkeypatch)


def test_a_new_benchmark_is_one_record_and_its_data(tiny_benchmark: Path, tmp_path: Path) -> None:
    from dart_hf.engines import EngineSpec
    from dart_hf.evaluation import run as ev
    from dart_hf.sources import describe_sources, load_benchmark

    ds = load_benchmark("tinyarith", data_dir=tiny_benchmark)
    assert ds["answer"] == ["7", "30", "108"] and ds.info.license == "CC0-1.0"
    listed = {r.name: r for r in describe_sources("benchmark", data_dir=tiny_benchmark)}
    assert listed["tinyarith"].rows == 3 and listed["tinyarith"].licence == "CC0-1.0"
    assert fewshot.default_shots("tinyarith") == 2
    assert len(fewshot.get_exemplars("tinyarith", 2)) == 2

    table = tmp_path / "table.jsonl"
    rows = [
        {"query": r["question"], "answer": a, "pass_rate": r["pass_rate"]}
        for r, a in zip(TINY, ds["answer"], strict=True)
    ]
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = EngineSpec(backend="scripted", model="scripted-tiny", options=(("table", str(table)),))
    config = ev.EvalConfig(
        benchmarks=("tinyarith",), template="alpaca", max_tokens=512, data_dir=str(tiny_benchmark)
    )
    results = ev.run_eval(config, tmp_path / "out", engine_spec=spec, progress=False)
    entry = results["benchmarks"]["tinyarith"]
    assert entry["label"] == "TinyArith" and entry["n"] == 3
    assert entry["accuracy"] == pytest.approx(100 * 2 / 3, abs=0.01)
    assert results["average"]["benchmarks"] == []  # not one of the paper's six
    card = (tmp_path / "out" / "predictions" / "README.md").read_text(encoding="utf-8")
    assert "| TinyArith | 3 |" in card
