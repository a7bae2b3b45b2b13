"""The grader's input checks, without the worker pool: missing columns, an unknown forced
benchmark, bad `dart-hf grade` input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import GRADING_NORMAL as NORMAL
from helpers import GRADING_ROWS as ROWS

from dart_hf.cli import cli
from dart_hf.config import GradeConfig
from dart_hf.errors import DartError
from dart_hf.grading.grade import grade_batch


def test_missing_column_names_it() -> None:
    with pytest.raises(DartError, match=r"missing column 'answer'; columns present: response"):
        grade_batch({"response": ["x"]}, config=GradeConfig())


def test_unknown_forced_benchmark() -> None:
    with pytest.raises(DartError, match="unknown benchmark 'nope'; valid:"):
        grade_batch(dict(NORMAL), config=GradeConfig(benchmark="nope"))


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_grade_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["grade", str(tmp_path / "nope.jsonl"), "-o", "x.jsonl"])
    assert missing.exit_code != 0 and "not found" in missing.output
    assert "Traceback" not in missing.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    res = runner.invoke(cli, ["grade", str(bad), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code != 0 and "line 2" in res.output, res.output

    src = _write_jsonl(tmp_path / "cols.jsonl", [{"text": "x", "answer": "1"}])
    res = runner.invoke(cli, ["grade", str(src), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code != 0
    assert "missing column 'response'" in res.output and "text, answer" in res.output

    res = runner.invoke(cli, ["grade", str(src), "-o", str(tmp_path / "o.jsonl"), "--num-proc", "0"])
    assert res.exit_code != 0 and "num_proc must be >= 1" in res.output


@pytest.mark.parametrize(("value", "kind"), [(5, "int64"), ([1, 2], "List")])
def test_cli_grade_response_column_not_text(tmp_path: Path, value: object, kind: str) -> None:
    src = _write_jsonl(tmp_path / "nums.jsonl", [{"response": value, "answer": "1"}] * 3)
    res = CliRunner().invoke(cli, ["grade", str(src), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code != 0, res.output
    assert "column 'response' holds" in res.output and kind in res.output, res.output
    assert "Traceback" not in res.output and not (tmp_path / "o.jsonl").exists()


def test_grade_batch_response_not_text() -> None:
    with pytest.raises(DartError, match="column 'response' holds int values, not text"):
        grade_batch({"response": [3], "answer": ["3"]}, config=GradeConfig())
