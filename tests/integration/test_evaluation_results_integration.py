"""pass@k and maj@k of `dart-hf eval --n 4` (and two seeds) on the full benchmark files
(scripted engine), checked against the metric and the table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from dart_hf.cli import cli
from dart_hf.evaluation import results as er
from dart_hf.evaluation import run as ev


def _scripted_table(tmp_path: Path, shared_data: Path, n: int) -> Path:
    from dart_hf.sources import load_benchmark

    rows = []
    for bench in ("gsm8k", "math500"):
        for r in load_benchmark(bench, data_dir=shared_data, limit=n):
            level = r["level"] if r["level"] is not None else 2
            rows.append(
                {"query": r["query"], "answer": r["answer"], "solution": r["solution"], "level": level}
            )
    table = tmp_path / "table.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return table


@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple:
    tmp = tmp_path_factory.mktemp("eval-n4")
    table = _scripted_table(tmp, shared_data, 6)
    out = tmp / "out"
    args = [
        "eval",
        "--engine",
        "scripted",
        "--model",
        "scripted-eval",
        "--engine-option",
        f"table={table}",
        "--engine-option",
        "level_pass_rates=0.9,0.6,0.5",
        "--benchmarks",
        "gsm8k,math500",
        "--limit",
        "6",
        "--template",
        "alpaca",
        "--max-tokens",
        "4096",
        "--data-dir",
        str(shared_data),
        "--n",
        "4",
        "--temperature",
        "0.8",
        "-o",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "results.json").read_text())


def test_eval_n4_reports_pass_and_maj_at_k(sampled_run: tuple) -> None:
    from datasets import load_dataset

    out, printed, results = sampled_run
    assert results["settings"]["n"] == 4 and results["settings"]["temperature"] == 0.8
    for bench in ("gsm8k", "math500"):
        entry = results["benchmarks"][bench]
        e = entry["estimates"]
        assert (entry["n"], e["items"], e["n"], e["seeds"]) == (6, 6, 4, 1)
        assert list(e["pass@k"]) == list(e["maj@k"]) == ["1", "2", "3", "4"]
        passes = [e["pass@k"][str(k)] for k in range(1, 5)]
        assert passes == sorted(passes) and e["pass@k"]["1"] == e["accuracy"]
        assert e["accuracy"] == entry["accuracy"]  # = correct / responses, one seed
        preds = load_dataset(str(out / "predictions"), bench, split="test")
        assert len(preds) == 24 and sorted(set(preds["sample_idx"])) == [0, 1, 2, 3]
        # recomputed from the predictions: pass@k of each item's correct count
        per_item: dict[str, list[bool]] = {}
        for i, c in zip(preds["id"], preds["correct"], strict=True):
            per_item.setdefault(i, []).append(bool(c))
        for k in range(1, 5):
            want = sum(
                1 - math.comb(4 - sum(v), k) / math.comb(4, k) if 4 - sum(v) >= k else 1.0
                for v in per_item.values()
            ) / len(per_item)
            assert e["pass@k"][str(k)] == round(100 * want, 4)
        means = [sum(v) / 4 for v in per_item.values()]
        m = sum(means) / 6
        se = math.sqrt(sum((x - m) ** 2 for x in means) / 5 / 6)
        assert e["se"] == round(100 * se, 4)
    p = results["protocol"]
    assert (p["engine"], p["n"], p["seeds"], p["max_tokens"]) == ("scripted", 4, [0], 4096)
    assert p["grader"]["grade_version"] == results["grader"]["grade_version"]
    assert p["dtype"] == "bfloat16" and p["batch"]["shard_size"] == 64
    md = (out / "results.md").read_text()
    assert md == er.results_markdown(results) and "| pass@4 |" in printed
    assert "| samples per item (n) | 4 |" in md
    card = (out / "predictions" / "README.md").read_text()
    assert "4 responses per item" in card and "| maj@4 |" in card
    assert "| responses per item and seed (n) | 4 |" in card
    assert "pass@k is the unbiased estimate" in card and "no vote is wrong" in card


def test_metric_gives_the_same_pass_and_maj_at_k(sampled_run: tuple) -> None:
    import evaluate
    from datasets import load_dataset

    from dart_hf.metric import METRIC_PATH

    out, _, results = sampled_run
    metric = evaluate.load(METRIC_PATH)
    for bench in ("gsm8k", "math500"):
        ds = load_dataset(str(out / "predictions"), bench, split="test").sort(["id", "sample_idx"])
        items: dict[str, list[dict]] = {}
        for row in ds:
            items.setdefault(row["id"], []).append(row)
        rows = list(items.values())
        score = metric.compute(
            predictions=[[r["response"] for r in v] for v in rows],
            references=[v[0]["gold"] for v in rows],
            benchmarks=[bench] * len(rows),
            finish_reasons=[[r["finish_reason"] for r in v] for v in rows],
            gold_fields=[{k: v[0][k] for k in ev.PREDICTION_COLUMNS[-5:]} for v in rows],
        )
        e = results["benchmarks"][bench]["estimates"]
        assert score["n"] == e["items"] and score["samples"] == 4
        assert round(100 * score["accuracy"], 4) == e["accuracy"]
        assert round(100 * score["se"], 4) == e["se"]
        for k in range(1, 5):
            assert round(100 * score[f"pass@{k}"], 4) == e["pass@k"][str(k)], (bench, k)
            assert round(100 * score[f"maj@{k}"], 4) == e["maj@k"][str(k)], (bench, k)


def test_eval_n2_with_two_seeds_gives_estimates_per_seed(tmp_path: Path, shared_data: Path) -> None:
    table = _scripted_table(tmp_path, shared_data, 3)
    args = [
        "eval",
        "--engine",
        "scripted",
        "--engine-option",
        f"table={table}",
        "--benchmarks",
        "gsm8k",
        "--limit",
        "3",
        "--template",
        "alpaca",
        "--max-tokens",
        "4096",
        "--data-dir",
        str(shared_data),
        "--n",
        "2",
        "--seeds",
        "0,1",
        "--temperature",
        "0.7",
        "--top-p",
        "0.9",
        "-o",
        str(tmp_path / "out"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    e = results["benchmarks"]["gsm8k"]["estimates"]
    assert (e["items"], e["n"], e["seeds"]) == (3, 2, 2) and set(e["per_seed"]) == {"0", "1"}
    for k in ("1", "2"):  # maj@k is the mean of the seeds' votes
        assert e["maj@k"][k] == round(sum(s["maj@k"][k] for s in e["per_seed"].values()) / 2, 4)
    # pass@1 pools both seeds' responses: the mean of the seeds' accuracies
    per_seed = results["benchmarks"]["gsm8k"]["per_seed"]
    assert e["pass@k"]["1"] == pytest.approx(sum(per_seed.values()) / 2, abs=1e-3)
    assert results["protocol"]["seeds"] == [0, 1] and results["protocol"]["top_p"] == 0.9
    assert "2 samples per item per seed, 2 seeds" in result.output
