"""Tests of `dart-hf eval` that run no evaluation: protocol pieces, summaries, flags and bad
input (the runs are in tests/integration/test_evaluation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset

from dart_hf import benchmarks
from dart_hf.cli import cli
from dart_hf.engines import EngineSpec
from dart_hf.errors import DartError
from dart_hf.evaluation import run as ev
from dart_hf.evaluation.results import REPORTED_ACCURACIES
from dart_hf.recipe import load_recipe
from dart_hf.sampling.fewshot import (
    default_shots,
    exemplar_source,
    get_exemplars,
    olympiad_instruction,
    olympiad_query,
)

SIX = benchmarks.averaged()
EVAL_BENCHMARKS = benchmarks.names()

# ------------------------------------------------------------------ protocol pieces


def test_olympiad_instruction_follows_the_official_format() -> None:
    single = olympiad_instruction("Numerical", False, None)
    assert single.startswith(
        "The following is an open-ended problem from an International Math competition. "
        "The answer of The problem should be a numerical value. Please calculate the answer"
    )
    assert single.endswith(
        'Please end your solution with "So the final answer is \\boxed{answer}." and give the '
        "result explicitly."
    )
    multi = olympiad_instruction("Expression", True, "km")
    assert "The problem has multiple answers, each of them should be an expression. " in multi
    assert "\\boxed{multiple answers connected with commas}(unit)." in multi
    assert multi.endswith("explicitly, note that the unit of the answer should not be included in \\boxed{}.")
    mixed = olympiad_instruction("Numerical,Expression", True, None)
    assert "with the answers in order being a numerical value, an expression. " in mixed
    # the official prompt says nothing about the type of Tuple answers
    assert "should be" not in olympiad_instruction("Tuple", False, None).split("Please")[0]
    assert olympiad_query("What is $x$?", "Interval", False, None).endswith("\nWhat is $x$?")


def test_prepare_batch_poses_olympiad_queries_and_tags_rows() -> None:
    batch = {
        "query": ["Find $n$.", "Find $m$."],
        "answer_type": ["Numerical", "Tuple"],
        "multi_answer": [False, True],
        "unit": [None, "cm"],
    }
    out = ev.prepare_batch(batch, benchmark="olympiadbench")
    assert out["benchmark"] == ["olympiadbench"] * 2
    assert out["query"][0] == olympiad_query("Find $n$.", "Numerical", False, None)
    assert "(unit)" in out["query"][1]
    assert batch["query"] == ["Find $n$.", "Find $m$."]  # input untouched
    plain = ev.prepare_batch({"query": ["1+1?"]}, benchmark="gsm8k")
    assert plain == {"query": ["1+1?"], "benchmark": ["gsm8k"]}


def test_fewshot_sets_are_fixed_sourced_and_boxed() -> None:
    assert default_shots("theoremqa") == 5 and default_shots("math") == 4
    for bench in EVAL_BENCHMARKS:
        shots = get_exemplars(bench, default_shots(bench))
        assert len(shots) == default_shots(bench)
        assert all("\\boxed{" in response for _, response in shots)
        assert exemplar_source(bench)
    assert get_exemplars("math", 0) == ()
    with pytest.raises(DartError, match="exemplar set holds 4"):
        get_exemplars("gsm8k", 8)
    with pytest.raises(DartError, match="valid: .*theoremqa"):
        get_exemplars("mmlu", 1)


def test_config_defaults_and_errors() -> None:
    config, engine = ev.resolve_config({}, {"benchmarks": "math500,gsm8k", "limit": 3})
    assert config.benchmarks == ("math500", "gsm8k")
    assert (config.temperature, config.max_tokens, config.template) == (0.0, 2048, "chat")
    assert engine == EngineSpec(
        backend="vllm", model=None, seed=0, dtype="bfloat16", max_model_len=4096, options=()
    )
    # a build recipe's synthesis settings do not leak into the protocol
    paper, paper_engine = ev.resolve_config(load_recipe("paper"), {})
    assert (paper.max_tokens, paper.limit, paper.shard_size, paper.num_proc) == (2048, None, 64, 1)
    assert paper.template == "deepseekmath" and paper.temperature == 0.0
    assert paper_engine.model == "deepseek-ai/deepseek-math-7b-rl"
    evald, _ = ev.resolve_config({"limit": 24, "eval": {"limit": 5, "max_tokens": 512}}, {})
    assert (evald.limit, evald.max_tokens) == (5, 512)
    assert ev.default_template("hkust-nlp/dart-math-llama3-8b-prop2diff") == "alpaca"
    assert ev.default_template("deepseek-ai/deepseek-math-7b-rl") == "deepseekmath"
    # the recipe's synthesis temperature does not make a one-seed run sample
    assert ev.resolve_config({"temperature": 1.6}, {})[0].temperature == 0.0
    sampled, _ = ev.resolve_config({"eval": {"temperature": 0.7, "top_p": 0.9}}, {"seeds": (0, 1)})
    assert (sampled.temperature, sampled.top_p, sampled.seeds) == (0.7, 0.9, (0, 1))
    base, _ = ev.resolve_config({}, {"template": "qa"})
    assert [base.shots_for(b) for b in ("math", "theoremqa")] == [4, 5]
    assert ev.resolve_config({}, {"template": "qa", "n_shots": 2})[0].shots_for("theoremqa") == 2
    with pytest.raises(DartError, match="unknown benchmark 'mmlu'; valid: college_math, "):
        ev.resolve_config({}, {"benchmarks": "math,mmlu"})
    with pytest.raises(DartError, match="--limit must be >= 1"):
        ev.resolve_config({}, {"limit": 0})
    with pytest.raises(DartError, match="identical runs"):
        ev.resolve_config({}, {"seeds": (0, 1, 2)})
    with pytest.raises(DartError, match="holds 4"):
        ev.resolve_config({}, {"template": "qa", "n_shots": 5})
    with pytest.raises(DartError, match="unknown template 'plain'; valid: alpaca, chat"):
        ev.resolve_config({}, {"template": "plain"})
    with pytest.raises(DartError, match="zero-shot: --n-shots needs"):
        ev.resolve_config({}, {"template": "alpaca", "n_shots": 4})
    with pytest.raises(DartError, match="--max-tokens"):
        ev.resolve_config({}, {"max_tokens": 0})


def test_reported_accuracies_by_hub_id_and_folder_name() -> None:
    row = ev.reported_for("hkust-nlp/dart-math-dsmath-7b-prop2diff")
    assert row is not None and row["math"] == 53.6 and row["average"] == 49.4
    assert ev.reported_for("/models/dart-math-mistral-7b-prop2diff/")["gsm8k"] == 81.1  # type: ignore[index]
    assert ev.reported_for("deepseek-ai/deepseek-math-7b-rl")["theoremqa"] == 35.9  # type: ignore[index]
    assert ev.reported_for(None) is None and ev.reported_for("gpt2") is None
    for hub_id, acc in REPORTED_ACCURACIES.items():
        six = [acc[b] for b in SIX]
        if None not in six and acc["average"] is not None:
            assert abs(sum(six) / 6 - acc["average"]) < 0.11, hub_id  # type: ignore[arg-type]


# ------------------------------------------------------------------ results from predictions


def _toy_predictions() -> dict[str, list]:
    return {
        "benchmark": ["math"] * 4 + ["gsm8k"] * 4,
        "seed": [0, 0, 1, 1] * 2,
        "correct": [True, False, True, True, False, None, True, False],
        "grade_status": ["ok", "no_answer", "ok", "ok", "ok", "bad_gold", "ok", "truncated"],
        "level": [1, 2, 1, 2, 0, 0, 0, 0],
        "domain": ["Algebra", "Geometry", "Algebra", "Geometry", None, None, None, None],
    }


def test_summary_means_spreads_counts_and_breakdowns() -> None:
    paper = ev.reported_for("hkust-nlp/dart-math-mistral-7b-prop2diff")
    s = ev.summarize_predictions(_toy_predictions(), paper)
    math, gsm = s["benchmarks"]["math"], s["benchmarks"]["gsm8k"]
    assert math["per_seed"] == {"0": 50.0, "1": 100.0} and math["accuracy"] == 75.0
    assert (math["min"], math["max"], math["std"]) == (50.0, 100.0, 35.3553)
    assert math["counts"]["no_answer"] == 1 and math["reported"] == 45.5
    assert math["by_level"] == {"1": {"n": 2, "accuracy": 100.0}, "2": {"n": 2, "accuracy": 50.0}}
    assert math["by_domain"]["Geometry"] == {"n": 2, "accuracy": 50.0}
    # bad_gold is left out of the accuracy (seed 0 of GSM8K: 0 of 1), truncated counts wrong
    assert gsm["per_seed"] == {"0": 0.0, "1": 50.0}
    assert (gsm["counts"]["bad_gold"], gsm["counts"]["truncated"]) == (1, 1)
    assert "by_level" not in gsm
    avg = s["average"]
    assert avg["per_seed"] == {"0": 25.0, "1": 75.0} and avg["accuracy"] == 50.0
    assert not avg["complete"] and avg["reported"] is None
    md = ev.results_markdown({**s, "settings": {"seeds": [0, 1]}})
    assert "| MATH | 2 | 75.0 ± 35.4 | 45.5 | 1 | 0 | 0 | 0 |" in md
    assert "| Average (2 of 6) | | 50.0 ± 35.4 | – |" in md
    assert "MATH by level" in md and "| 2 | 2 | 50.0 |" in md


# ------------------------------------------------------------------ the run, on the scripted engine


# ------------------------------------------------------------------ CLI and bad input


def test_eval_help_documents_the_protocol() -> None:
    result = CliRunner().invoke(cli, ["eval", "--help"])
    assert result.exit_code == 0
    for text in ("--benchmarks", "--n-shots", "--seeds", "-o, --out", "alpaca", "greedy"):
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmarks", "math,mmlu"], "unknown benchmark 'mmlu'; valid: college_math"),
        (["--limit", "0"], "--limit must be >= 1"),
        (["--seeds", "0,1"], "identical runs"),
        (["--seeds", "a,b"], "--seeds must be comma-separated integers"),
        (["--repo", "me/x"], "--repo needs --push"),
        (["--engine", "tgi"], "unknown engine 'tgi'; valid: "),
        (["--config", "no/such/recipe.yaml"], "recipe file not found"),
    ],
)
def test_eval_bad_flags_are_clean_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["eval", *args, "-o", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_eval_flags_reach_the_run_and_the_table_is_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}

    def fake_run(config: ev.EvalConfig, out: str, *, engine_spec: object, **kw: object) -> dict:
        seen.update(config=config, out=out, spec=engine_spec)
        return {**ev.summarize_predictions(_toy_predictions()), "settings": {"seeds": [0, 1]}}

    monkeypatch.setattr(ev, "run_eval", fake_run)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("temperature: 0.6\neval:\n  shard_size: 16\n", encoding="utf-8")
    args = ["eval", "--config", str(recipe), "--model", "some/model", "--engine", "transformers"]
    args += ["--benchmarks", "gsm8k,theoremqa", "--template", "qa", "--n-shots", "3"]
    args += ["--limit", "7", "--seeds", "1,2", "--max-tokens", "99", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    c = seen["config"]
    assert (c.benchmarks, c.template, c.n_shots, c.limit) == (("gsm8k", "theoremqa"), "qa", 3, 7)
    assert (c.seeds, c.temperature, c.max_tokens, c.shard_size) == ((1, 2), 0.6, 99, 16)
    assert c.data_dir == str(tmp_path)
    spec = seen["spec"]
    assert (spec.backend, spec.model, spec.seed) == ("transformers", "some/model", 1)
    assert "| MATH | 2 | 75.0 ± 35.4 |" in result.output and "results.json" in result.output


def test_eval_benchmark_file_without_answer_field(tmp_path: Path) -> None:
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(
        json.dumps({"question": "What is 1+1?", "solution": "2"}) + "\n", encoding="utf-8"
    )
    args = ["eval", "--benchmarks", "gsm8k", "--data-dir", str(tmp_path), "-o", str(tmp_path / "o")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "gsm8k/test.jsonl" in result.output and "answer" in result.output


def test_predictions_without_gold_are_refused() -> None:
    with pytest.raises(DartError, match="lack column\\(s\\) gold"):
        ev.grade_predictions(Dataset.from_dict({"benchmark": ["math"], "response": ["x"]}))


# ------------------------------------------------------------------ real engine (CI runs it)
