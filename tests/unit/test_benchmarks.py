"""Tests of the benchmark registry: the records, and a benchmark added from one record."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from dart_hf import benchmarks, fewshot
from dart_hf.benchmarks import BENCHMARKS, AnswerRules, Benchmark
from dart_hf.errors import DartError
from dart_hf.normalise import NORMALISERS

# The paper's Table 2, in its order; the average is over these six.
PAPER_SIX = ("math", "gsm8k", "college_math", "deepmind_mathematics", "olympiadbench", "theoremqa")


def test_every_record_names_parts_that_exist() -> None:
    for name, b in BENCHMARKS.items():
        assert b.name == name
        assert b.normaliser in NORMALISERS, name
        exemplars = resources.files("dart_hf") / "fewshot" / f"{b.exemplars}.json"
        assert exemplars.is_file(), name
        assert len(json.loads(exemplars.read_text(encoding="utf-8"))["exemplars"]) >= b.shots
        assert b.instruction is None or b.instruction in fewshot.INSTRUCTIONS, name


def test_derived_sets_follow_the_paper() -> None:
    assert benchmarks.averaged() == PAPER_SIX
    assert benchmarks.decontaminated() == PAPER_SIX
    assert benchmarks.names() == (*PAPER_SIX, "math500")
    assert benchmarks.rules_for("theoremqa") == AnswerRules(float_rel_tol=0.04, options=True)
    assert benchmarks.rules_for("a-pool-file") == AnswerRules()
    assert benchmarks.label("olympiadbench") == "OlympiadBench"
    assert benchmarks.label("unregistered") == "unregistered"
    with pytest.raises(DartError, match="valid: .*theoremqa"):
        benchmarks.get("mmlu")
    with pytest.raises(DartError, match="relative .jsonl"):
        Benchmark("x", "X", "/abs/x.jsonl", "gsm8k", "MIT", "x")


# Three GSM8K-format items; the scripted model solves the first two and never the third.
TINY = [
    {"question": "Ann has 3 apples and buys 4 more. How many apples has she?",
     "answer": "3 + 4 = <<3+4=7>>7 apples.\n#### 7", "pass_rate": 1.0},
    {"question": "A box holds 6 eggs. How many eggs are in 5 boxes?",
     "answer": "6 * 5 = <<6*5=30>>30 eggs.\n#### 30", "pass_rate": 1.0},
    {"question": "Tom reads 12 pages a day. How many pages does he read in 9 days?",
     "answer": "12 * 9 = <<12*9=108>>108 pages.\n#### 108", "pass_rate": 0.0},
]  # fmt: skip


@pytest.fixture
def tiny_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register `tinyarith` (one record) over a tiny JSONL in a data dir of its own."""
    data = tmp_path / "data"
    (data / "tinyarith").mkdir(parents=True)
    lines = [json.dumps({k: r[k] for k in ("question", "answer")}) for r in TINY]
    (data / "tinyarith" / "test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = Benchmark(
        "tinyarith", "TinyArith", "tinyarith/test.jsonl", "gsm8k", "CC0-1.0",
        "three word problems", exemplars="gsm8k", shots=2, decontaminate=True,
    )  # fmt: skip
    monkeypatch.setitem(BENCHMARKS, "tinyarith", record)
    return data


def test_a_new_benchmark_is_one_record_and_its_data(tiny_benchmark: Path, tmp_path: Path) -> None:
    from dart_hf import evaluation as ev
    from dart_hf.engines import EngineSpec
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


def test_a_new_benchmark_joins_decontamination(tiny_benchmark: Path) -> None:
    from dart_hf.build import decontamination_mask
    from dart_hf.config import BuildConfig

    cfg = BuildConfig(data_dir=str(tiny_benchmark))
    pool = [TINY[2]["question"] + " Answer in pages.", "What is the sum of 2 and 2 squared?"]
    excluded, used = decontamination_mask(pool, cfg)
    assert used == ["tinyarith"]  # the others are absent from this data dir
    assert excluded.tolist() == [True, False]
