"""Issue 27, phase 1: bad inputs as a user gives them, each a clear one-line error (or every
row read), never a traceback, silently lost rows, or a value recorded as another.

Fast: no engine, no subprocess, no build (the CLI runs through `CliRunner` and stops before
any engine starts). Whole commands, real engines and signals: `tests/test_reliability.py`.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import sys
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dart_hf import hub, push, sources
from dart_hf.cli import cli
from dart_hf.config import BuildConfig, DarsConfig
from dart_hf.errors import DartError
from dart_hf.recipe import load_recipe

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error here comes before an engine starts: one that starts fails the test at once
    (and a regression cannot start vLLM from a fast test)."""
    from dart_hf import engines, sampling

    def refuse(spec: object) -> None:
        raise AssertionError(f"an engine was started: {spec}")

    monkeypatch.setattr(engines, "get_engine", refuse)
    monkeypatch.setattr(sampling, "get_engine", refuse)


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _gsm8k(n: int, start: int = 0) -> list[dict]:
    return [{"question": f"What is {i} + 1?", "answer": f"x #### {i + 1}"}
            for i in range(start, start + n)]  # fmt: skip


def _sample(args: list[str], tmp_path: Path, command: str = "sample") -> str:
    """`dart-hf sample --engine scripted ...` through click: the error, as a user sees it."""
    res = CliRunner().invoke(cli, [command, "--engine", "scripted", *args,
                                   "-o", str(tmp_path / "out")])  # fmt: skip
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    return res.output


# ------------------------------------------------------------------ item 2: pool folders


def test_a_folder_mixing_file_types_is_refused_naming_the_files(tmp_path: Path) -> None:
    """Issue 27.2: a.jsonl (3 rows) beside b.parquet (3 rows) built from the 3 parquet rows."""
    folder = tmp_path / "pool"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", _gsm8k(3))
    pq.write_table(pa.Table.from_pylist(_gsm8k(3, start=3)), folder / "b.parquet")
    out = _sample(["--pool", str(folder)], tmp_path)
    assert "holds data files of more than one type (json: a.jsonl; parquet: b.parquet)" in out
    # a quoted glob reads exactly what it matches (here every row of the parquet file)
    loaded = sources.load_pool_source(str(folder / "*.parquet"))
    assert loaded.rows_read == 3 and loaded.dataset["answer"] == ["4", "5", "6"]


def test_data_files_no_split_takes_are_refused(tmp_path: Path) -> None:
    """A file named like a split (test.jsonl) made datasets skip every other data file."""
    folder = tmp_path / "pool"
    folder.mkdir()
    _jsonl(folder / "rows.jsonl", _gsm8k(3))
    _jsonl(folder / "test.jsonl", _gsm8k(2, start=10))
    with pytest.raises(DartError, match=r"rows.jsonl would not be read: files named like a split"):
        sources.load_pool(folder)


def test_other_files_beside_the_data_are_named_as_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "pool"
    folder.mkdir()
    _jsonl(folder / "a.jsonl", _gsm8k(2))
    _jsonl(folder / "b.jsonl", _gsm8k(2, start=2))
    (folder / "notes.txt").write_text("where these came from")
    (folder / "README.md").write_text("# a card without YAML\n")
    with caplog.at_level(logging.WARNING):
        assert len(sources.load_pool(folder)) == 4  # every row of both files
    assert "read 2 json file(s); not read (not data files): notes.txt" in caplog.text
    assert "README.md" not in caplog.text
    (tmp_path / "prose").mkdir()
    (tmp_path / "prose" / "notes.txt").write_text("x")
    with pytest.raises(DartError, match=r"prose holds no data files .*; it holds notes.txt"):
        sources.load_pool(tmp_path / "prose")


# ------------------------------------------------------------------ item 11: misleading errors


def test_one_column_as_question_and_answer_is_named_as_such(tmp_path: Path) -> None:
    """Issue 27.11: it was reported as a missing column."""
    pool = _jsonl(tmp_path / "qa.jsonl", [{"q": "What is 1+1?", "a": "2"}])
    res = CliRunner().invoke(cli, ["build", "--engine", "scripted", "--pool", str(pool),
                                   "--query-column", "q", "--answer-column", "q",
                                   "-o", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "--query-column and --answer-column name the same column 'q'" in res.output
    assert "has no column" not in res.output


@pytest.mark.parametrize("layout", ["file", "folder", "one of two shards"])
def test_an_empty_parquet_pool_says_so(layout: str, tmp_path: Path) -> None:
    """Issue 27.11: a parquet file of zero rows gave datasets' 'An error occurred while
    generating the dataset'."""
    empty = pa.table({"question": pa.array([], pa.string()), "answer": pa.array([], pa.string())})
    folder = tmp_path / "pool"
    folder.mkdir()
    pq.write_table(empty, folder / "a.parquet")
    if layout == "one of two shards":
        pq.write_table(pa.Table.from_pylist(_gsm8k(2)), folder / "b.parquet")
    ref = folder / "a.parquet" if layout == "file" else folder
    out = _sample(["--pool", str(ref)], tmp_path)
    if layout == "one of two shards":
        assert "a.parquet hold(s) no rows, which datasets cannot read beside other files" in out
    else:
        assert f"{ref} is empty (no rows)" in out
    assert "DatasetGenerationError" not in out


def test_a_full_datasets_cache_names_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 27.11 (fault injection; a real full disk: tests/test_reliability.py)."""
    pool = _jsonl(tmp_path / "p.jsonl", _gsm8k(2))

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(datasets, "load_dataset", full)
    out = _sample(["--pool", str(pool)], tmp_path)
    assert f"disk full while datasets wrote its cache for {pool} (in " in out
    assert "HF_DATASETS_CACHE" in out


# ------------------------------------------------------------------ item 12: silently accepted


@pytest.mark.parametrize(
    ("row", "flags", "message"),
    [
        ({"query": 5, "answer": "5"}, [], "row 1: column 'query' holds an integer 5, not text"),
        ({"query": ["What", "is"], "answer": "5"}, [], "column 'query' holds a list"),
        ({"query": {"text": "Q"}, "answer": "5"}, [], "column 'query' holds a mapping"),
        ({"messages": [{"role": "user", "content": "What is 2+3?"}], "answer": "5"},
         ["--query-column", "messages"],
         "column 'messages' (--query-column) holds chat messages [{'role': 'user'"),
        ({"query": "What is 2+3?", "answer": ["5"]}, [],
         "column 'answer' holds a list ['5'], not text or a number"),
        ({"query": "What is 2+3?", "final": {"value": 5}}, ["--answer-column", "final"],
         "column 'final' (--answer-column) holds a mapping {'value': 5}"),
        ({"query": "What is 2+3?", "answer": True}, [], "column 'answer' holds a boolean"),
        ({"question": "What is 2+3?", "answer": ["#### 5"]}, ["--query-column", "question"],
         "column 'answer' holds a list"),
    ],
)  # fmt: skip
def test_a_cell_that_is_not_text_is_an_error_naming_column_and_type(
    row: dict, flags: list[str], message: str, tmp_path: Path
) -> None:
    """Issue 27.12: such cells were turned into their str() and released."""
    pool = _jsonl(tmp_path / "p.jsonl", [row])
    out = _sample(["--pool", str(pool), *flags], tmp_path, "build" if flags else "sample")
    assert f"{pool} row 1: column" in out and message in out, out


def test_numbers_are_golds_as_written_and_mixed_columns_keep_their_text(tmp_path: Path) -> None:
    """A gold answer may be a number (42 -> "42"); a column mixing text and numbers was read
    as JSON text, which released the gold '"1\\/2"' with its quotes."""
    pool = _jsonl(tmp_path / "p.jsonl", [{"query": "Q1", "answer": "1/2"},
                                         {"query": "Q2", "answer": 3},
                                         {"query": "Q3", "answer": 0.25}])  # fmt: skip
    assert sources.load_pool(pool)["answer"] == ["1/2", "3", "0.25"]


def test_math_level_question_mark_is_an_error_unless_it_is_a_known_row(tmp_path: Path) -> None:
    """Issue 27.12: MATH-format `Level ?` became a null level (only a log line said so)."""
    rows = [{"problem": "What is 1+1?", "solution": "$\\boxed{2}$", "level": "Level 2",
             "type": "Algebra"},
            {"problem": "What is 2+2?", "solution": "$\\boxed{4}$", "level": "Level ?",
             "type": "Algebra"}]  # fmt: skip
    out = _sample(["--pool", str(_jsonl(tmp_path / "m.jsonl", rows))], tmp_path)
    assert "m.jsonl row 2: level 'Level ?' is not a MATH level (Level 1-5)" in out
    # MATH's own two `Level ?` rows keep the levels the reference code gives them
    known = [{**rows[1], "unique_id": "train/geometry/377.json"}]
    assert sources.load_pool(_jsonl(tmp_path / "k.jsonl", known))["level"] == [2]
