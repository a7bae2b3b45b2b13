"""Grading stage and killable pool: statuses, hard timeouts, threads, map workers, the CLI."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import datasets
import pytest
from click.testing import CliRunner
from helpers import GRADING_NORMAL as NORMAL
from helpers import GRADING_ROWS as ROWS
from helpers import box as _box

from dart_hf.cli import cli
from dart_hf.config import GradeConfig
from dart_hf.errors import DartError
from dart_hf.grading.grade import GRADE_VERSION, get_pool, grade_batch, grade_dataset, summarize

TOWER = r"So the value is $\boxed{9^{9^{9^{9^{9}}}}}$."


NORMAL_EXPECTED = {
    "correct": [True, True, False, False, None, False],
    "grade_status": ["ok", "ok", "no_answer", "ok", "bad_gold", "truncated"],
}


def test_statuses_and_columns() -> None:
    out = grade_batch(dict(NORMAL), config=GradeConfig(num_proc=1), version=GRADE_VERSION)
    assert set(out) == {"pred", "correct", "grade_status", "verdict_source"}
    assert out["correct"] == NORMAL_EXPECTED["correct"]
    assert out["verdict_source"] == [
        "math_verify",
        "math_verify",
        "no_answer",
        "math_verify",
        "bad_gold",
        "truncated",
    ]
    assert out["grade_status"] == NORMAL_EXPECTED["grade_status"]
    assert out["pred"][0] == r"\frac{1}{2}"  # what Math-Verify extracted
    assert out["pred"][5] == "5"  # a truncated response still shows what it wrote


def test_power_tower_killed_and_others_unaffected() -> None:
    config = GradeConfig(timeout_s=2.0, num_proc=2)
    get_pool(2)  # start-up is not part of the limit
    clean = grade_batch(dict(NORMAL), config=config)
    t0 = time.monotonic()
    clean_again = grade_batch(dict(NORMAL), config=config)
    clean_s = time.monotonic() - t0
    assert clean_again == clean
    long_response = "Let us think. " * 3600 + _box("42")
    assert len(long_response) >= 50_000
    batch = {
        "response": [*NORMAL["response"], TOWER, long_response],
        "answer": [*NORMAL["answer"], "5", "42"],
        "finish_reason": [*NORMAL["finish_reason"], "stop", "stop"],
    }
    t0 = time.monotonic()
    out = grade_batch(batch, config=config)
    elapsed = time.monotonic() - t0
    assert out["grade_status"][6] == "timeout" and out["correct"][6] is False
    assert elapsed <= config.timeout_s + 1.0 + clean_s, elapsed
    assert (out["correct"][7], out["grade_status"][7]) == (True, "ok")  # 50,000 characters
    for key in ("pred", "correct", "grade_status"):
        assert out[key][:6] == clean[key]
    # the pool replaced the killed worker and keeps grading
    assert grade_batch(dict(NORMAL), config=config) == clean


def test_works_in_a_thread() -> None:
    box: dict = {}

    def run() -> None:
        box["out"] = grade_batch(dict(NORMAL), config=GradeConfig(num_proc=1))

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=120)
    assert box["out"]["grade_status"] == NORMAL_EXPECTED["grade_status"]


def test_inside_dataset_map_workers(tmp_path: Path) -> None:
    ds = datasets.Dataset.from_dict({k: v * 2 for k, v in NORMAL.items()})
    out = ds.map(
        grade_batch,
        batched=True,
        batch_size=4,
        num_proc=2,
        fn_kwargs={"config": GradeConfig(num_proc=1), "version": GRADE_VERSION},
        cache_file_name=str(tmp_path / "graded.arrow"),
    )
    assert out["grade_status"] == NORMAL_EXPECTED["grade_status"] * 2


def test_grade_dataset_and_summary() -> None:
    ds = datasets.Dataset.from_dict(NORMAL)
    graded = grade_dataset(ds, GradeConfig(num_proc=1))
    assert graded.column_names == [*NORMAL, "pred", "correct", "grade_status", "verdict_source"]
    s = summarize(graded)
    assert s["counts"]["ok"] == 3 and s["counts"]["bad_gold"] == 1
    assert (s["rows"], s["graded"], s["correct"]) == (6, 5, 2)
    assert s["accuracy"] == pytest.approx(0.4)


# ------------------------------------------------------------------------------ CLI


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_grade_jsonl(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["grade", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["grade_status"] for r in rows] == ["ok", "ok", "bad_gold"]
    assert [r["correct"] for r in rows] == [True, False, None]
    assert "accuracy" in result.output and "50.00%" in result.output
    assert "bad_gold" in result.output


def test_cli_grade_parquet_to_folder(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    datasets.Dataset.from_list([{"out_text": r["response"], "gold": r["answer"]} for r in ROWS]).to_parquet(
        str(src)
    )
    out = tmp_path / "graded"
    result = CliRunner().invoke(
        cli,
        [
            "grade",
            str(src),
            "--out",
            str(out),
            "--response-column",
            "out_text",
            "--answer-column",
            "gold",
            "--num-proc",
            "2",
            "--benchmark",
            "gsm8k",
            "--timeout-s",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    back = datasets.load_dataset("parquet", data_dir=str(out), split="train")
    assert back["grade_status"] == ["ok", "ok", "bad_gold"]
    again = CliRunner().invoke(
        cli,
        [
            "grade",
            str(out),
            "-o",
            str(tmp_path / "again.parquet"),
            "--response-column",
            "out_text",
            "--answer-column",
            "gold",
        ],
    )
    assert again.exit_code == 0, again.output


def test_require_anchor_is_a_grading_setting() -> None:
    """`require_anchor` (issue 26): a response that states no answer is `no_answer` in
    builds whose template asks for one; grading and evaluation stay lenient by default."""
    batch = {"response": ["She has 3 + 4 = 7 apples and then", _box("7")], "answer": ["7", "7"]}
    lenient = grade_batch(dict(batch), config=GradeConfig(num_proc=1))
    assert lenient["verdict_source"][0] == "unanchored"
    strict = grade_batch(dict(batch), config=GradeConfig(num_proc=1, require_anchor=True))
    assert strict["grade_status"] == ["no_answer", "ok"]
    assert strict["verdict_source"][0] == "no_anchor" and strict["correct"] == [False, True]
    with pytest.raises(DartError, match="require_anchor must be true, false or null"):
        GradeConfig(require_anchor="yes")  # type: ignore[arg-type]
