"""Tests of `dart-hf eval`: protocol pieces, results, outputs, resume, bad input, real engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from datasets import Dataset, load_dataset
from huggingface_hub import DatasetCard

from dart_hf import benchmarks
from dart_hf import evaluation as ev
from dart_hf.cli import cli
from dart_hf.engines import EngineSpec
from dart_hf.errors import DartError
from dart_hf.eval_results import REPORTED_ACCURACIES
from dart_hf.fewshot import (
    default_shots,
    exemplar_source,
    get_exemplars,
    olympiad_instruction,
    olympiad_query,
)
from dart_hf.recipe import load_recipe

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
    assert multi.endswith(
        "explicitly, note that the unit of the answer should not be included in \\boxed{}."
    )
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


def test_fewshot_exemplars_are_not_benchmark_test_items(shared_data: Path) -> None:
    def column(path: Path, key: str) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(x)[key] for x in lines if x.strip()]

    tests = {
        "math": column(shared_data / "math/test.jsonl", "problem"),
        "gsm8k": column(shared_data / "gsm8k/test.jsonl", "question"),
    }
    for bench, questions in tests.items():
        for query, _ in get_exemplars(bench, 4):
            assert query.strip() not in {q.strip() for q in questions}


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


def _scripted_spec(tmp_path: Path, shared_data: Path, n: int) -> tuple[object, str]:
    """A scripted-engine spec whose table holds the first n items of every benchmark."""
    from dart_hf.engines import EngineSpec
    from dart_hf.sources import load_benchmark

    rows = []
    for bench in EVAL_BENCHMARKS:
        ds = load_benchmark(bench, data_dir=shared_data, limit=n)
        for r in ds:
            rows.append(
                {"query": r["query"], "answer": r["answer"], "solution": r["solution"],
                 "level": r["level"] if r["level"] is not None else 3}
            )  # fmt: skip
    table = tmp_path / "table.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec = EngineSpec(backend="scripted", model="scripted-eval", options=(("table", str(table)),))
    return spec, str(table)


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple:
    tmp = tmp_path_factory.mktemp("eval-scripted")
    spec, _ = _scripted_spec(tmp, shared_data, 4)
    # the scripted engine has no tokenizer, so not `chat`; it finds each item by its query text
    config = ev.EvalConfig(
        benchmarks=EVAL_BENCHMARKS, template="alpaca", limit=4, max_tokens=4096,
        data_dir=str(shared_data), shard_size=2,
    )  # fmt: skip
    out = tmp / "out"
    results = ev.run_eval(config, out, engine_spec=spec, progress=False)
    return config, spec, out, results


def test_run_writes_results_predictions_and_card(scripted_run: tuple) -> None:
    from dart_hf.hub import check_hub_folder

    config, _, out, results = scripted_run
    saved = json.loads((out / "results.json").read_text())
    assert saved["benchmarks"].keys() == set(EVAL_BENCHMARKS)
    assert saved["average"]["complete"] and saved["average"]["benchmarks"] == list(SIX)
    assert saved["settings"]["temperature"] == 0.0 and saved["provenance"]["engine"] == "scripted"
    assert (out / "results.md").read_text() == ev.results_markdown(saved)
    folder = out / "predictions"
    assert check_hub_folder(folder) == []
    card = (folder / "README.md").read_text()
    assert "# Evaluation results: scripted-eval" in card and "| OlympiadBench | 4 |" in card
    assert "TheoremQA: 53 items that need a picture (not supplied) were left out." in card
    data = DatasetCard(card).data
    assert data.pretty_name == "Evaluation of scripted-eval with dart-hf"
    # metadata from DatasetCardData: a Hub size label and a licence name; the figure is drawn
    assert data.size_categories == ["n<1K"] and data.license_name == "per-benchmark"
    assert "![accuracy per benchmark and MATH level](images/accuracy.png)" in card
    assert (folder / "images" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {c["config_name"] for c in data.configs} == set(EVAL_BENCHMARKS)
    assert {i["config_name"] for i in data.dataset_info} == set(EVAL_BENCHMARKS)
    total = []
    for bench in EVAL_BENCHMARKS:
        ds = load_dataset(str(folder), bench, split="test")
        assert len(ds) == 4 and set(ds["benchmark"]) == {bench}
        assert {"query", "response", "pred", "gold", "correct", "grade_status", "seed"} <= set(
            ds.column_names
        )
        total.append(ds)
        # the table equals what the predictions say
        graded = [
            c for c, s in zip(ds["correct"], ds["grade_status"], strict=True) if s != "bad_gold"
        ]
        acc = round(100 * sum(1 for c in graded if c) / len(graded), 4)
        assert saved["benchmarks"][bench]["accuracy"] == acc
    olympiad = load_dataset(str(folder), "olympiadbench", split="test")
    assert all(q.startswith("The following is an open-ended problem") for q in olympiad["query"])
    # every sample shard is on disk for resume
    assert len(list((out / "samples" / "gsm8k" / "seed-0").glob("shard-*.parquet"))) == 2
    generation = saved["generation"]["gsm8k"]
    assert generation["shards"] == 2 and generation["completions"] == 4
    assert generation["processes"] == 1 and generation["tokens"] > 0
    assert f"| generation, GSM8K | {generation['tokens']:,} tokens in " in card


def test_rerun_resumes_without_regenerating(scripted_run: tuple) -> None:
    config, spec, out, results = scripted_run
    shards = sorted((out / "samples").rglob("shard-*.parquet"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards}
    again = ev.run_eval(config, out, engine_spec=spec, progress=False)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in shards} == before
    assert again["benchmarks"] == results["benchmarks"]
    assert again["generation"] == results["generation"]  # the totals of the first run's shards
    # other settings in the same folder are refused rather than mixed in
    other = dataclasses.replace(config, benchmarks=("gsm8k",), max_tokens=99)
    with pytest.raises(
        DartError, match="seed-0 holds samples made with other settings: max_tokens 4096 -> 99"
    ):
        ev.run_eval(other, out, engine_spec=spec, progress=False)


def test_regrading_a_predictions_file_twice_is_identical(scripted_run: tuple) -> None:
    _, _, out, results = scripted_run
    folder = out / "predictions"
    preds = [load_dataset(str(folder), b, split="test") for b in EVAL_BENCHMARKS]
    from datasets import concatenate_datasets

    ds = concatenate_datasets(preds)
    first = ev.grade_predictions(ds)
    second = ev.grade_predictions(ds)
    for col in ("pred", "correct", "grade_status"):
        assert first[col] == second[col] == ds[col]
    assert ev.summarize_predictions(first)["benchmarks"] == {
        b: {**v} for b, v in results["benchmarks"].items()
    }


def test_metric_agrees_with_the_cli_table(scripted_run: tuple) -> None:
    import evaluate

    from dart_hf.metric import METRIC_PATH

    _, _, out, results = scripted_run
    metric = evaluate.load(METRIC_PATH)
    for bench in EVAL_BENCHMARKS:
        ds = load_dataset(str(out / "predictions"), bench, split="test")
        gold_fields = [
            {k: r[k] for k in ("answers", "answer_type", "multi_answer", "unit", "tolerance")}
            for r in ds
        ]
        score = metric.compute(
            predictions=ds["response"], references=ds["gold"], benchmarks=ds["benchmark"],
            finish_reasons=ds["finish_reason"], gold_fields=gold_fields,
        )  # fmt: skip
        assert round(100 * score["accuracy"], 4) == results["benchmarks"][bench]["accuracy"]


def test_few_shot_run_for_base_models(tmp_path: Path, shared_data: Path) -> None:
    spec, _ = _scripted_spec(tmp_path, shared_data, 2)
    config = ev.EvalConfig(
        benchmarks=("gsm8k", "theoremqa"), template="qa", limit=2, data_dir=str(shared_data)
    )
    results = ev.run_eval(config, tmp_path / "out", engine_spec=spec, progress=False)
    assert results["settings"]["n_shots_used"] == {"gsm8k": 4, "theoremqa": 5}
    assert "Wei et al. 2022" in results["exemplars"]["gsm8k"]
    card = (tmp_path / "out" / "predictions" / "README.md").read_text()
    assert (
        "Few-shot exemplars:" in card and "| shots per benchmark | GSM8K 4, TheoremQA 5 |" in card
    )


def test_several_seeds_sample_and_report_mean_and_spread(tmp_path: Path, shared_data: Path) -> None:
    spec, _ = _scripted_spec(tmp_path, shared_data, 4)
    config, _ = ev.resolve_config(
        {"temperature": 0.8, "eval": {"shard_size": 2}},
        {"benchmarks": "gsm8k,math500", "seeds": (0, 1, 2), "limit": 4, "template": "alpaca",
         "data_dir": str(shared_data)},
    )  # fmt: skip
    results = ev.run_eval(config, tmp_path / "out", engine_spec=spec, progress=False)
    for bench in ("gsm8k", "math500"):
        entry = results["benchmarks"][bench]
        assert list(entry["per_seed"]) == ["0", "1", "2"] and entry["n"] == 4
        values = list(entry["per_seed"].values())
        assert entry["accuracy"] == round(sum(values) / 3, 4)
        assert (entry["min"], entry["max"]) == (min(values), max(values))
    preds = load_dataset(str(tmp_path / "out" / "predictions"), "gsm8k", split="test")
    assert sorted(set(preds["seed"])) == [0, 1, 2] and len(preds) == 12
    assert "accuracy (mean ± sd)" in (tmp_path / "out" / "results.md").read_text()


def test_push_uploads_the_staged_predictions_and_card(
    scripted_run: tuple, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hashlib
    import sys

    from huggingface_hub import constants as hf_constants

    from dart_hf.hub import staged_files

    sys.path.insert(0, str(Path(__file__).parent))
    from hub_server import fake_hub

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    _, _, out, _ = scripted_run
    folder = out / "predictions"
    token = "hf_EvalTestToken0123456789"
    with fake_hub(token) as (url, state):
        ev.push_results(out, "dart-org/eval-scripted", token=token, endpoint=url, backoff_s=0.01)
        files = state.repos["dart-org/eval-scripted"].files
    assert sorted(files) == staged_files(folder)
    assert "README.md" in files and "olympiadbench/test-00000-of-00001.parquet" in files
    for rel, data in files.items():
        assert hashlib.sha256(data).digest() == hashlib.sha256((folder / rel).read_bytes()).digest()
    with pytest.raises(DartError, match="no staged predictions"):
        ev.push_results(tmp_path, "dart-org/x")


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


@pytest.mark.integration
def test_embedded_model_on_two_items_of_each_benchmark(
    tmp_path: Path, shared_data: Path, hf_engine: object, hf_spec: object
) -> None:
    """The embedded model (the session's transformers engine), 2 items of each of the six,
    64 new tokens: the table, the predictions dataset, the card, and the metric agreeing."""
    import evaluate

    from dart_hf.metric import METRIC_PATH

    out = tmp_path / "out"
    config = ev.EvalConfig(limit=2, max_tokens=64, data_dir=str(shared_data), shard_size=8)
    results = ev.run_eval(config, out, engine_spec=hf_spec, progress=False)
    assert list(results["benchmarks"]) == list(SIX)
    for bench, entry in results["benchmarks"].items():
        assert entry["n"] == 2 and sum(entry["counts"].values()) == 2, bench
        assert entry["accuracy"] is not None and 0 <= entry["accuracy"] <= 100
    assert results["average"]["complete"] and results["provenance"]["engine"] == "transformers"
    md = (out / "results.md").read_text()
    assert "| **Average** |" in md and "MATH by level" in md and "| TheoremQA | 2 |" in md
    folder = out / "predictions"
    metric = evaluate.load(METRIC_PATH)
    for bench in SIX:
        ds = load_dataset(str(folder), bench, split="test")
        assert len(ds) == 2 and all(isinstance(r, str) for r in ds["response"])
        assert all(n <= 64 for n in ds["n_tokens"])
        assert set(ds["finish_reason"]) <= {"stop", "length"}
        gold_fields = [{k: r[k] for k in ev.PREDICTION_COLUMNS[-5:]} for r in ds]
        score = metric.compute(
            predictions=ds["response"], references=ds["gold"], benchmarks=ds["benchmark"],
            finish_reasons=ds["finish_reason"], gold_fields=gold_fields,
        )  # fmt: skip
        assert round(100 * score["accuracy"], 4) == results["benchmarks"][bench]["accuracy"]
    card = (folder / "README.md").read_text()
    assert "greedy decoding" in card and "| prompt template | `chat` |" in card
    assert "| max new tokens | 64 |" in card
