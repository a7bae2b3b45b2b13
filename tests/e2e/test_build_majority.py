"""Issue 17.4 end to end: `gold: majority` builds on pools without gold answers, and builds of
pools with other column names (scripted engine, grading pool).

The scripted engine (a labelled simulation) answers from its own table, which holds the real
MATH golds; the pool handed to the build has them removed (no `solution`, no answer), so the
grader only ever sees the golds the votes produced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets import load_dataset
from helpers import MAJORITY_BASE as BASE

from dart_hf import dars
from dart_hf.build import majority as gold_majority
from dart_hf.build import run as build
from dart_hf.engines.scripted import perturb
from dart_hf.folders import BuildFolder
from dart_hf.grading.anchors import final_answer_text
from dart_hf.grading.parse import equivalent

REPO = Path(__file__).resolve().parents[2]


MATH = REPO / "dart_hf" / "data" / "math" / "train.jsonl"


SCATTER = [str(1001 + k) for k in range(50)]  # wrong answers that (nearly) never agree


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _kind(i: int) -> str:
    """How the simulated model answers row i: right, scattered or consistently wrong."""
    return ("right", "right", "scatter", "wrong")[i % 4]


@pytest.fixture(scope="module")
def slice_build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A build on 12 MATH rows with their answers (and solutions) removed."""
    tmp = tmp_path_factory.mktemp("majority")
    raw = [json.loads(line) for line in MATH.read_text(encoding="utf-8").splitlines()[:12]]
    pool = _write_jsonl(
        tmp / "no-answers.jsonl",
        [{k: r[k] for k in ("problem", "level", "type", "unique_id")} for r in raw],
    )
    truth, gold = [], {}
    for i, r in enumerate(raw):
        answer = final_answer_text(r["solution"])
        query = r["problem"].strip()
        gold[query] = answer
        kind = _kind(i)
        truth.append(
            {
                "query": query,
                "answer": answer,
                "solution": r["solution"],
                "pass_rate": {"right": 0.95, "scatter": 0.0, "wrong": 0.05}[kind],
                "wrong_answers": SCATTER if kind == "scatter" else None,
            }
        )
    table = _write_jsonl(tmp / "model.jsonl", truth)
    settings = {**BASE, "pool": str(pool), "engine_options": {"table": str(table)}}
    out = tmp / "run"
    result = build.run_build(settings, out)
    info = load_dataset(str(result.releases["pool"]), "queries", split="train").to_list()
    return {"out": out, "result": result, "info": info, "raw": raw, "gold": gold, "settings": settings}


def test_votes_recover_the_real_golds_and_leave_out_the_rest(slice_build: dict) -> None:
    info, gold = slice_build["info"], slice_build["gold"]
    assert len(info) == 12
    for i, row in enumerate(info):
        real = gold[row["query"]]
        kind = _kind(i)
        if kind == "right":  # the model is right most of the time: its vote is the real gold
            assert row["gold_source"] == "majority", row
            assert row["answer"] == real and row["gold_majority"] == real
            assert row["gold_majority_votes"] >= BASE["gold_min_votes"]
            assert row["gold_majority_votes"] > BASE["gold_min_share"] * row["gold_voters"]
            assert row["gold_status"] is None  # a vote is not audited against itself
            assert row["stop_reason"] != gold_majority.NO_MAJORITY
        elif kind == "scatter":  # no two wrong answers agree: left out, counted
            assert row["gold_source"] is None and row["answer"] == ""
            assert row["stop_reason"] == gold_majority.NO_MAJORITY
            assert row["samples"] == BASE["difficulty_samples"] and row["corrects"] == 0
            assert row["gold_majority_votes"] < BASE["gold_min_votes"]
        else:  # consistently wrong: the vote is the model's wrong answer (what the card says)
            assert row["gold_source"] == "majority"
            assert row["answer"] == perturb(real) and not equivalent(real, row["answer"])
    gm = slice_build["result"].stats.gold_majority
    assert gm.counts == {"answer": 0, "majority": 9, "no_majority": 3}
    assert sum(r.counts["no_majority"] for r in gm.per_level) == 3
    assert {r.label for r in gm.per_level} <= {f"L{k}" for k in range(1, 6)}
    assert gm.vote_samples == BASE["difficulty_samples"] and gm.fail_rate_round == 1


def test_left_out_queries_are_in_no_release_or_figure(slice_build: dict) -> None:
    result, info = slice_build["result"], slice_build["info"]
    left = {r["query"] for r in info if r["gold_source"] is None}
    for name in ("uniform", "prop2diff"):
        rows = load_dataset(str(result.releases[name]), split="train")
        assert len(rows) > 0 and not (set(rows["query"]) & left)
        per_level = result.stats.strategies[name].per_level
        assert sum(r.queries for r in per_level) == 12 - len(left)
    assert result.stats.stop_reasons[gold_majority.NO_MAJORITY] == len(left)


def test_fail_rates_come_from_the_samples_that_did_not_vote(slice_build: dict) -> None:
    out = slice_build["out"]
    final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    phase = datasets.Dataset.from_file(str(out / "rounds" / "round-001" / "graded.arrow"))
    voted = final["stop_reason"] != gold_majority.NO_MAJORITY
    for i in np.flatnonzero(voted):
        mine = [c for q, c in zip(phase["id"], phase["correct"], strict=True) if q == final["id"][i]]
        assert len(mine) == final["fail_rate_samples"][i] == BASE["difficulty_samples"]
        assert final["fail_rate"][i] == pytest.approx(1 - sum(bool(c) for c in mine) / len(mine))
    assert np.isnan(final["fail_rate"][~voted]).all()
    # the vote round was graded again against the golds: its agreeing samples are correct
    votes = datasets.Dataset.from_file(str(out / "rounds" / "round-000" / "graded.arrow"))
    golds = {r["id"]: r["answer"] for r in slice_build["info"] if r["gold_source"]}
    for q, a, c in zip(votes["id"], votes["answer"], votes["correct"], strict=True):
        assert (a == golds[q] and c is not None) if q in golds else (a == "" and c is None)


def test_cards_say_the_golds_are_model_votes(slice_build: dict) -> None:
    result = slice_build["result"]
    for name in ("uniform", "prop2diff", "pool"):
        card = (result.releases[name] / "README.md").read_text(encoding="utf-8")
        assert "are model votes, not verified" in card, name
        assert "could never look harder than 1 minus its vote share" in card
        assert "| level | `answer` | `majority` | `no_majority` (left out) |" in card
    pool_card = (result.releases["pool"] / "README.md").read_text(encoding="utf-8")
    assert "the synthesis model's majority vote, not a verified answer" in pool_card


def test_rerun_and_resume_after_the_vote(slice_build: dict, tmp_path: Path) -> None:
    """The same command on the same folder resumes; resuming after round 0 gives the same."""
    copy = tmp_path / "run"
    shutil.copytree(slice_build["out"], copy)
    for p in sorted((copy / "state").glob("round-*.parquet"))[1:]:
        p.unlink()
    for d in sorted((copy / "rounds").glob("round-*"))[1:]:
        shutil.rmtree(d)
    shutil.rmtree(copy / "releases")
    again = build.run_build(slice_build["settings"], copy)
    info = load_dataset(str(again.releases["pool"]), "queries", split="train").to_list()
    assert info == slice_build["info"]


def test_build_with_mapped_columns_and_pool_answers(tmp_path: Path) -> None:
    """`--query-column/--answer-column` on a build: the pool's golds, as a normal build."""
    rows = [{"prompt": "What is 2+3?", "final": "5"}, {"prompt": "What is 6*7?", "final": "42"}]
    pool = _write_jsonl(tmp_path / "p.jsonl", rows)
    settings = {
        **BASE,
        "pool": str(pool),
        "query_column": "prompt",
        "answer_column": "final",
        "gold": "answer",
        "difficulty_samples": 4,
    }
    result = build.run_build(settings, tmp_path / "run")
    info = load_dataset(str(result.releases["pool"]), "queries", split="train")
    assert info["answer"] == ["5", "42"] and "gold_source" not in info.column_names
    assert result.stats.gold_majority is None and "gold_majority" not in result.stats.to_dict()
    assert "model votes" not in (result.releases["uniform"] / "README.md").read_text()


def test_mixed_pool_keeps_its_own_answers(tmp_path: Path) -> None:
    """Rows with an answer keep it (and its audit); only the others vote."""
    rows = [
        {"prompt": "What is 2+3?", "final": "5"},
        {"prompt": "What is 6*7?", "final": ""},
        {"prompt": "What is 9-4?", "final": "6"},  # a wrong pool gold: the audit disputes it
    ]
    pool = _write_jsonl(tmp_path / "p.jsonl", rows)
    truth = [
        {"query": r["prompt"], "answer": a, "pass_rate": 1.0}  # misses would give 6
        for r, a in zip(rows, ["5", "42", "5"], strict=True)
    ]
    table = _write_jsonl(tmp_path / "t.jsonl", truth)
    settings = {
        **BASE,
        "pool": str(pool),
        "query_column": "prompt",
        "answer_column": "final",
        "engine_options": {"table": str(table)},
    }
    result = build.run_build(settings, tmp_path / "run")
    info = load_dataset(str(result.releases["pool"]), "queries", split="train").to_list()
    by_query = {r["query"]: r for r in info}
    assert by_query["What is 2+3?"]["gold_source"] == "answer"
    assert by_query["What is 2+3?"]["gold_status"] == "ok"
    assert by_query["What is 6*7?"]["gold_source"] == "majority"
    assert by_query["What is 6*7?"]["answer"] == "42"
    assert by_query["What is 9-4?"]["gold_status"] == "disputed"
    assert by_query["What is 9-4?"]["gold_majority"] == "5"
    gm, audit = result.stats.gold_majority, result.stats.gold_audit
    assert gm is not None and gm.counts == {"answer": 2, "majority": 1, "no_majority": 0}
    assert audit is not None and audit.counts == {"ok": 1, "unparseable": 0, "disputed": 1}
