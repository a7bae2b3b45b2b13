"""Pools and benchmarks: normalisation of the real files, bundled data, bad input, CLI."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from click.testing import CliRunner
from helpers import check_source_schema as _check_schema

from dart_hf import sources
from dart_hf.benchmarks import BENCHMARKS
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.grading.anchors import last_boxed
from dart_hf.normalise import gsm8k_answer, render_number, theoremqa_answer
from dart_hf.sources import (
    load_benchmark,
    load_benchmark_source,
    load_pool,
    load_pool_source,
)


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    yield
    if enabled:
        datasets.enable_progress_bars()


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- gold-answer helpers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so $\boxed{5}$.", "5"),
        (r"$\boxed{\frac{1}{2}}$", r"\frac{1}{2}"),
        (r"first $\boxed{1}$ then $\boxed{(2, \{3\})}$", r"(2, \{3\})"),
        (r"$\fbox{7}$", "7"),
        (r"is $\boxed 2$.", "2"),
        (r"\boxed{\left\{ 1 \right\}}", r"\left\{ 1 \right\}"),
        (r"\boxed{}", ""),
        (r"\boxed{unclosed", None),
        ("no box here", None),
        (r"\boxedx{3}", None),
    ],
)
def test_last_boxed(text: str, expected: str | None) -> None:
    """Gold extraction of MATH solutions (shared with response extraction in grading/answers.py)."""
    assert last_boxed(text) == expected


def test_gsm8k_answer_removes_commas() -> None:
    assert gsm8k_answer("Total 1,080\n#### 1,080") == "1080"
    assert gsm8k_answer("no marker") == ""


@pytest.mark.parametrize(
    ("value", "answer_type", "expected"),
    [
        (True, "bool", "True"),
        ("false", "bool", "False"),
        ("True", "bool", "True"),
        ('"(c)"', "option", "(c)"),
        ("(c)", "option", "(c)"),
        ("[0,5]", "list of integer", "[0, 5]"),
        ([0.333, 0.25], "list of float", "[0.333, 0.25]"),
        ("0.955", "float", "0.955"),
        ("3e-36", "float", r"3 \times 10^{-36}"),
        (11760, "integer", "11760"),
    ],
)
def test_theoremqa_answer(value: object, answer_type: str, expected: str) -> None:
    assert theoremqa_answer(value, answer_type) == expected


def test_render_number() -> None:
    assert render_number(-6e25) == r"-6 \times 10^{25}"
    assert render_number(1.5) == "1.5"
    assert render_number(7) == "7"


# --- the real files -----------------------------------------------------------------------


# --- bundled data -------------------------------------------------------------------------


def test_bundled_loads_without_data_dir() -> None:
    math = load_pool("math")
    assert len(math) == 150
    assert Counter(math["level"]) == {level: 30 for level in range(1, 6)}
    assert len(set(math["domain"])) == 7
    assert len(load_pool("gsm8k")) == 60
    for name in BENCHMARKS:
        loaded = load_benchmark_source(name)
        _check_schema(loaded.dataset)
        assert loaded.rows_read == 8
        assert len(loaded.dataset) == (7 if name == "theoremqa" else 8)
        assert loaded.location.startswith(str(sources.bundled_data_dir()))


def test_bundled_is_small_and_licensed() -> None:
    folder = sources.bundled_data_dir()
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 1_000_000
    assert (folder / "README.md").is_file()
    college = [json.loads(line) for line in (folder / "college_math/test.jsonl").open()]
    assert all("(CC BY" in row["license"] and "NC" not in row["license"] for row in college)


# --- paths, formats, Hub ------------------------------------------------------------------


def test_pool_from_paths_detects_format(tmp_path: Path) -> None:
    math_rows = [
        {"problem": "1+1?", "solution": r"It is $\boxed{2}$.", "level": "Level 1", "type": "A"},
        {"problem": "2+2?", "solution": r"$\boxed{4}$", "level": "Level 2", "type": "A"},
    ]
    ds = load_pool(_write_jsonl(tmp_path / "m.jsonl", math_rows))
    assert ds["id"] == ["math/train/0", "math/train/1"] and ds["answer"] == ["2", "4"]
    gsm = [{"question": "q", "answer": "a\n#### 1,234"}]
    datasets.Dataset.from_list(gsm).to_parquet(tmp_path / "g.parquet")
    g = load_pool(tmp_path / "g.parquet")
    assert g["answer"] == ["1234"] and g["level"] == [0]
    # A file already normalised comes back as it is.
    g.to_parquet(tmp_path / "norm.parquet")
    again = load_pool(str(tmp_path / "norm.parquet"))
    assert again.to_list() == g.to_list()
    # Explicit format for a file detection cannot place.
    qa = _write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "7"}])
    with pytest.raises(DartError, match="cannot tell the format"):
        load_pool(qa)
    assert load_pool(qa, pool_format="deepmind_mathematics")["answer"] == ["7"]
    with pytest.raises(DartError, match="valid: college_math"):
        load_pool(qa, pool_format="nope")


def test_folder_of_shards_and_hub_layout(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(6)]
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(2):
        datasets.Dataset.from_list(rows[3 * k : 3 * k + 3]).to_parquet(shards / f"shard-{k:05d}.parquet")
    assert load_pool(shards)["answer"] == [str(i) for i in range(6)]
    # A local folder in the Hub layout goes through `load_dataset(repo)`, split picked by name.
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows[:2]).to_parquet(repo / "data/train-00000-of-00001.parquet")
    bench = [{"question": "What is 2+3?", "answer": "5"}]
    datasets.Dataset.from_list(bench).to_parquet(repo / "data/test-00000-of-00001.parquet")
    ds = load_benchmark("deepmind_mathematics", path=repo)
    assert ds["answer"] == ["5"] and ds["id"] == ["deepmind_mathematics/test/0"]


def test_hub_repo_id_offline_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DartError, match="cannot read someone/no-such-pool"):
        load_pool("someone/no-such-pool")


def test_limit() -> None:
    assert len(load_pool("math", limit=5)) == 5
    assert len(load_benchmark("theoremqa", limit=100)) == 7
    with pytest.raises(DartError, match="limit"):
        load_pool("math", limit=-1)


# --- bad input ----------------------------------------------------------------------------


def test_unknown_names_list_valid_ones() -> None:
    with pytest.raises(DartError, match="unknown pool 'mathh'; valid: gsm8k, math"):
        load_pool("mathh")
    with pytest.raises(DartError, match="valid: college_math, deepmind_mathematics"):
        load_benchmark("nope")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DartError, match="file not found: .*absent.jsonl"):
        load_pool(tmp_path / "absent.jsonl")
    with pytest.raises(DartError, match=r"olympiadbench/test.jsonl .*not in data dir"):
        load_benchmark("olympiadbench", data_dir=tmp_path)
    with pytest.raises(DartError, match="does not exist"):
        load_pool("math", data_dir=tmp_path / "nowhere")


def test_bad_json_line_is_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "answer": "#### 1"}\n\n{"question": "q2", "answer": \n')
    with pytest.raises(DartError, match=r"bad.jsonl line 3 is not valid JSON"):
        load_pool(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(DartError, match="line 1 is not a JSON object"):
        load_pool(path)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "t.jsonl", [{"Question": "q", "Answer": 1}])
    with pytest.raises(DartError, match="missing column.*Answer_type.*present: Question, Answer"):
        load_benchmark("theoremqa", path=path)


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(DartError, match="e.jsonl is empty"):
        load_pool(tmp_path / "e.jsonl")
    datasets.Dataset.from_dict({"problem": [], "solution": []}).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(DartError, match="e.parquet is empty"):
        load_pool(tmp_path / "e.parquet")


def test_empty_answer_is_kept(tmp_path: Path) -> None:
    rows = [
        {"problem": "p1", "solution": "no box at all"},
        {"problem": "p2", "solution": r"$\boxed{3}$"},
    ]
    loaded = load_pool_source(_write_jsonl(tmp_path / "m.jsonl", rows))
    assert loaded.dataset["answer"] == ["", "3"] and loaded.empty_answers == 1


def test_bad_tolerance_names_row(tmp_path: Path) -> None:
    rows = [{"question": "q", "final_answer": ["1"], "error": "1e-1"}]
    rows.append({"question": "q", "final_answer": ["2"], "error": "lots"})
    path = _write_jsonl(tmp_path / "o.jsonl", rows)
    with pytest.raises(DartError, match=r"o.jsonl row 2: field 'error' is not a number"):
        load_benchmark("olympiadbench", path=path)


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    row = {"problem": "p", "solution": r"\boxed{1}", "unique_id": "train/a/1.json"}
    with pytest.raises(DartError, match="duplicate ids math/train/a/1"):
        load_pool(_write_jsonl(tmp_path / "d.jsonl", [row, row]))


# --- CLI ----------------------------------------------------------------------------------


def test_cli_pools_bundled() -> None:
    result = CliRunner().invoke(cli, ["pools"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "rows", "licence", "description"]
    assert lines[1].split()[:3] == ["math", "150", "MIT"]
    assert lines[2].split()[:3] == ["gsm8k", "60", "MIT"]
    assert "(bundled)" in result.output


def test_cli_missing_sources_and_bad_dir(tmp_path: Path) -> None:
    (tmp_path / "math").mkdir()
    (tmp_path / "math" / "train.jsonl").write_text('{"problem": "p", "solution": "\\\\boxed{1}"}\n')
    result = CliRunner().invoke(cli, ["pools", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "math   1" in result.output and "gsm8k  missing" in result.output
    result = CliRunner().invoke(cli, ["benchmarks", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["pools", "benchmarks"])
def test_cli_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0 and "--data-dir" in result.output
    assert cli.commands[command].help
