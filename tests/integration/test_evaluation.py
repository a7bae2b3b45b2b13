"""`dart-hf eval` on the full benchmark files (scripted engine) and on the embedded model
(the session's transformers engine): results, predictions, cards, resume, few-shot, seeds, push."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from dart_hf import benchmarks
from dart_hf.engines import EngineSpec
from dart_hf.errors import DartError
from dart_hf.evaluation import run as ev
from dart_hf.sampling.fewshot import get_exemplars

SIX = benchmarks.averaged()


EVAL_BENCHMARKS = benchmarks.names()


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


def _scripted_spec(tmp_path: Path, shared_data: Path, n: int) -> tuple[object, str]:
    """A scripted-engine spec whose table holds the first n items of every benchmark."""
    from dart_hf.sources import load_benchmark

    rows = []
    for bench in EVAL_BENCHMARKS:
        ds = load_benchmark(bench, data_dir=shared_data, limit=n)
        for r in ds:
            rows.append(
                {
                    "query": r["query"],
                    "answer": r["answer"],
                    "solution": r["solution"],
                    "level": r["level"] if r["level"] is not None else 3,
                }
            )
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
        benchmarks=EVAL_BENCHMARKS,
        template="alpaca",
        limit=4,
        max_tokens=4096,
        data_dir=str(shared_data),
        shard_size=2,
    )
    out = tmp / "out"
    results = ev.run_eval(config, out, engine_spec=spec, progress=False)
    return config, spec, out, results


def test_run_writes_results_predictions_and_card(scripted_run: tuple) -> None:
    from dart_hf.hub.folder import check_hub_folder

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
        graded = [c for c, s in zip(ds["correct"], ds["grade_status"], strict=True) if s != "bad_gold"]
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
            {k: r[k] for k in ("answers", "answer_type", "multi_answer", "unit", "tolerance")} for r in ds
        ]
        score = metric.compute(
            predictions=ds["response"],
            references=ds["gold"],
            benchmarks=ds["benchmark"],
            finish_reasons=ds["finish_reason"],
            gold_fields=gold_fields,
        )
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
    assert "Few-shot exemplars:" in card and "| shots per benchmark | GSM8K 4, TheoremQA 5 |" in card


def test_several_seeds_sample_and_report_mean_and_spread(tmp_path: Path, shared_data: Path) -> None:
    spec, _ = _scripted_spec(tmp_path, shared_data, 4)
    config, _ = ev.resolve_config(
        {"temperature": 0.8, "eval": {"shard_size": 2}},
        {
            "benchmarks": "gsm8k,math500",
            "seeds": (0, 1, 2),
            "limit": 4,
            "template": "alpaca",
            "data_dir": str(shared_data),
        },
    )
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

    from hub_server import fake_hub
    from huggingface_hub import constants as hf_constants

    from dart_hf.hub.folder import staged_files

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
            predictions=ds["response"],
            references=ds["gold"],
            benchmarks=ds["benchmark"],
            finish_reasons=ds["finish_reason"],
            gold_fields=gold_fields,
        )
        assert round(100 * score["accuracy"], 4) == results["benchmarks"][bench]["accuracy"]
    card = (folder / "README.md").read_text()
    assert "greedy decoding" in card and "| prompt template | `chat` |" in card
    assert "| max new tokens | 64 |" in card
