"""Issue 17.4: pools without gold answers (`gold: majority`), and pools with other column names.

The scripted engine (a labelled simulation) answers from its own table, which holds the real
MATH golds; the pool handed to the build has them removed (no `solution`, no answer), so the
grader only ever sees the golds the votes produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from click.testing import CliRunner
from helpers import MAJORITY_BASE as BASE

from dart_hf.build import majority as gold_majority
from dart_hf.build import run
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.grading.audit import GoldAuditConfig
from dart_hf.sources import load_pool


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_fingerprint_holds_what_changes_outputs() -> None:
    """Every setting that changes a build's files is in its fingerprint (gold, its columns,
    at their defaults too); the ones that change no file are not (push, org, grading
    workers, and how rounds go to the engine)."""
    ds = datasets.Dataset.from_dict({"id": ["a"], "query": ["q"], "answer": ["1"]})
    s = run.BuildSettings.from_dict({"engine": "scripted"}).to_dict()
    fp = run.fingerprint(s, ds)["settings"]
    assert {"gold", "query_column", "answer_column"} <= set(fp)
    runtime = {"push", "org", "num_proc", "max_in_flight", "stream", "overlap_grading"}
    assert runtime <= set(s) and not runtime & set(fp)
    s2 = run.BuildSettings.from_dict({"engine": "scripted", "gold": "majority"}).to_dict()
    assert run.fingerprint(s2, ds)["settings"]["gold"] == "majority"
    s3 = run.BuildSettings.from_dict({"engine": "scripted", "max_in_flight": 8}).to_dict()
    assert run.fingerprint(s3, ds) == run.fingerprint(s, ds)


def test_majority_needs_a_clear_vote() -> None:
    config = GoldAuditConfig(min_votes=3, min_share=0.5)
    votes = ["5", "5", "5", None, "7", "\\frac{10}{2}", "7", "8", "8", "9", "9"]
    ids = ["a"] * 4 + ["b"] * 4 + ["c"] * 3
    got = gold_majority.majority_golds(["a", "b", "c", "d"], ids, votes, config)
    assert got["gold_source"] == ["majority", None, None, None]
    assert got["gold_majority"][:2] == ["5", "7"] and got["gold_majority_votes"][:2] == [3, 2]
    assert got["gold_voters"] == [3, 4, 3, 0]
    # equal answers vote together: 5 and 10/2 make 3 of 4
    got = gold_majority.majority_golds(["x"], ["x"] * 4, ["5", "\\frac{10}{2}", "5", "6"], config)
    assert got["gold_source"] == ["majority"] and got["gold_majority_votes"] == [3]


def test_a_pool_whose_rows_all_have_golds_votes_on_nothing() -> None:
    """`gold: majority` on a pool with every answer: nothing to vote on, no error (an empty id
    list was a null-typed Arrow array that `is_in` refused)."""
    graded = datasets.Dataset.from_dict(
        {
            "id": ["q1", "q1"],
            "response": ["\\boxed{2}", "\\boxed{2}"],
            "finish_reason": ["stop"] * 2,
        }
    )
    out = gold_majority.vote(graded, [], GoldAuditConfig())
    assert out == {c: [] for c in gold_majority.TABLE_COLUMNS}
    two = gold_majority.vote(graded, ["q1"], GoldAuditConfig(min_votes=2))
    assert two["gold_source"] == ["majority"] and two["gold_majority_votes"] == [2]


@pytest.mark.parametrize(
    ("response", "reason", "expected"),
    [
        ("So $\\boxed{12}$.", "stop", "12"),
        ("So $\\boxed{12}$.", "length", None),  # cut at max_tokens: no vote
        ("So $\\boxed{12", "stop", None),  # unclosed box
        ("The answer is 12.", "stop", "12"),  # an answer phrase
        ("So she makes 12 dollars a day.\n#### 12", "stop", "12"),
        ("First 3 * 4 = 12, then 12 + 5 = 17 and", "stop", None),  # no answer stated: no vote
        ("I give up.", "stop", None),
        ("$\\boxed{1}$ and $\\boxed{2}$", "stop", "1, 2"),  # read as golds are read
    ],
)
def test_what_a_sample_votes_for(response: str, reason: str, expected: str | None) -> None:
    assert gold_majority.response_answer(response, reason) == expected


# --- bad input and column mapping ------------------------------------------------------------


def test_pool_without_answers_needs_gold_majority(tmp_path: Path) -> None:
    rows = [{"prompt": "What is 1+1?", "level": 1}, {"prompt": "What is 2+2?", "level": 1}]
    pool = _write_jsonl(tmp_path / "q.jsonl", rows)
    args = ["--pool", str(pool), "--query-column", "prompt", "-o", str(tmp_path / "o")]
    res = CliRunner().invoke(cli, ["build", "--engine", "scripted", *args])
    assert res.exit_code != 0 and "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert "has no gold answers" in lines[0] and "--gold majority" in lines[0]
    assert "--answer-column" in lines[0]


def test_missing_query_column_names_the_columns(tmp_path: Path) -> None:
    pool = _write_jsonl(tmp_path / "q.jsonl", [{"prompt": "What is 1+1?", "final": "2"}])
    args = ["--pool", str(pool), "--query-column", "question", "-o", str(tmp_path / "o")]
    res = CliRunner().invoke(cli, ["build", "--engine", "scripted", *args])
    assert res.exit_code != 0 and "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1, res.output
    assert "no column 'question' (--query-column)" in lines[0]
    assert "its columns: prompt, final" in lines[0]
    with pytest.raises(DartError, match=r"no column 'answer' \(--answer-column\)"):
        load_pool(pool, query_column="prompt", answer_column="answer")
    # without --query-column, a file whose format cannot be told says to name it
    with pytest.raises(DartError, match="--query-column"):
        load_pool(pool)


def test_majority_needs_room_for_two_phases(tmp_path: Path) -> None:
    pool = _write_jsonl(tmp_path / "q.jsonl", [{"query": "What is 1+1?"}])
    table = _write_jsonl(tmp_path / "t.jsonl", [{"query": "What is 1+1?", "answer": "2"}])
    settings = {
        **BASE,
        "pool": str(pool),
        "query_column": None,
        "max_trials": 12,
        "engine_options": {"table": str(table)},
    }
    with pytest.raises(DartError, match="max_trials .12. must be at least 16"):
        run.run_build(settings, tmp_path / "o")
    with pytest.raises(DartError, match="unknown gold 'votes'; valid: answer, majority"):
        run.BuildSettings.from_dict({"engine": "scripted", "gold": "votes"})


def test_columns_mapped_in_jsonl_parquet_and_hub_folder(tmp_path: Path) -> None:
    rows = [
        {"prompt": "What is 2+3?", "final": "5", "level": "Level 2", "answer": "junk"},
        {"prompt": "What is 6*7?", "final": "42", "level": "3", "answer": "junk"},
    ]
    jsonl = _write_jsonl(tmp_path / "p.jsonl", rows)
    parquet = tmp_path / "p.parquet"
    datasets.Dataset.from_list(rows).to_parquet(parquet)
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(repo / "data" / "train-00000-of-00001.parquet")
    for ref in (jsonl, parquet, repo):
        ds = load_pool(ref, query_column="prompt", answer_column="final")
        assert ds["query"] == ["What is 2+3?", "What is 6*7?"], ref
        assert ds["answer"] == ["5", "42"] and ds["answers"] == [["5"], ["42"]]  # named wins
        assert ds["level"] == [2, 3] and ds["id"] == ["pool/train/0", "pool/train/1"]
    # a question column alone: no answers (a build then needs gold: majority)
    ds = load_pool(jsonl, query_column="prompt")
    assert ds["answer"] == ["junk", "junk"]
    bare = _write_jsonl(tmp_path / "bare.jsonl", [{"prompt": "What is 1+1?"}])
    assert load_pool(bare, query_column="prompt")["answer"] == [""]
