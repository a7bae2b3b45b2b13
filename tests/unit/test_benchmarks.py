"""Tests of the benchmark registry: the records, and a benchmark added from one record."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from helpers import TINY_BENCHMARK as TINY
from helpers import register_tiny_benchmark

from dart_hf import benchmarks
from dart_hf.benchmarks import BENCHMARKS, AnswerRules, Benchmark
from dart_hf.errors import DartError
from dart_hf.normalise import NORMALISERS
from dart_hf.sampling import fewshot


@pytest.fixture
def tiny_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Register `tinyarith` (one record) over a tiny JSONL in a data dir of its own."""
    return register_tiny_benchmark(tmp_path, monkeypatch)


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


def test_a_new_benchmark_joins_decontamination(tiny_benchmark: Path) -> None:
    from dart_hf.build.run import decontamination_mask
    from dart_hf.config import BuildConfig

    cfg = BuildConfig(data_dir=str(tiny_benchmark))
    pool = [TINY[2]["question"] + " Answer in pages.", "What is the sum of 2 and 2 squared?"]
    excluded, used = decontamination_mask(pool, cfg)
    assert used == ["tinyarith"]  # the others are absent from this data dir
    assert excluded.tolist() == [True, False]
