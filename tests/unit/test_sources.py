"""Pools and benchmarks: normalisation of the real files, bundled data, bad input, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from click.testing import CliRunner

from dart_hf import sources
from dart_hf.answers import last_boxed
from dart_hf.benchmarks import BENCHMARKS
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.normalise import SOURCE_FEATURES, gsm8k_answer, render_number, theoremqa_answer
from dart_hf.sources import (
    POOLS,
    load_benchmark,
    load_benchmark_source,
    load_pool,
    load_pool_source,
    load_pools,
)

REPO = Path(__file__).resolve().parents[1]

POOL_ROWS = {"math": 7500, "gsm8k": 7473}
BENCHMARK_ROWS = {
    "math": 5000,
    "math500": 500,
    "gsm8k": 1319,
    "college_math": 2818,
    "deepmind_mathematics": 1000,
    "olympiadbench": 675,
    "theoremqa": 747,
}


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


def _check_schema(ds: datasets.Dataset) -> None:
    assert ds.features == SOURCE_FEATURES
    ids = ds["id"]
    assert len(set(ids)) == len(ids)
    assert all(q.strip() for q in ds["query"])


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
    """Gold extraction of MATH solutions (shared with response extraction in answers.py)."""
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


@pytest.mark.parametrize("name", sorted(POOL_ROWS))
def test_real_pools(shared_data: Path, name: str) -> None:
    loaded = load_pool_source(name, data_dir=shared_data)
    ds = loaded.dataset
    assert len(ds) == POOL_ROWS[name] == loaded.rows_read
    _check_schema(ds)
    assert set(ds["source"]) == {name}
    assert all(i.startswith(f"{name}/train/") for i in ds["id"])
    levels = Counter(ds["level"])
    assert set(levels) == ({0} if name == "gsm8k" else {1, 2, 3, 4, 5})
    # MATH train has two solutions whose last box is empty (`\boxed{}`): kept, for bad_gold.
    assert loaded.empty_answers == (2 if name == "math" else 0)


def test_real_math_levels_and_answers(shared_data: Path) -> None:
    ds = load_pool("math", data_dir=shared_data)
    by_id = {r["id"]: r for r in ds.select_columns(["id", "level", "answer"])}
    assert by_id["math/train/geometry/377"]["level"] == 2
    assert by_id["math/train/geometry/471"]["level"] == 1
    assert by_id["math/train/algebra/0"]["answer"] == "0"
    assert by_id["math/train/algebra/24014"]["answer"] == "2"  # `\boxed 2` form
    assert Counter(ds["level"]) == {5: 2304, 4: 1690, 3: 1592, 2: 1349, 1: 565}
    empty = {r["id"] for r in by_id.values() if not r["answer"]}
    assert empty == {"math/train/number_theory/7115", "math/train/number_theory/7117"}


def test_real_gsm8k_answers(shared_data: Path) -> None:
    ds = load_pool("gsm8k", data_dir=shared_data)
    answers = ds["answer"]
    assert all(a and "," not in a for a in answers)
    assert ds[0]["id"] == "gsm8k/train/0" and answers[0] == "72"


@pytest.mark.parametrize("name", sorted(BENCHMARK_ROWS))
def test_real_benchmarks(shared_data: Path, name: str) -> None:
    loaded = load_benchmark_source(name, data_dir=shared_data)
    ds = loaded.dataset
    assert len(ds) == BENCHMARK_ROWS[name]
    _check_schema(ds)
    assert set(ds["source"]) == {name}
    assert all(i.startswith(f"{name}/test/") for i in ds["id"])
    assert loaded.empty_answers == 0
    assert ds.info.license == BENCHMARKS[name].licence
    for row in ds.select(range(20)):
        assert row["answers"] and row["answer"]


def test_real_theoremqa(shared_data: Path) -> None:
    loaded = load_benchmark_source("theoremqa", data_dir=shared_data)
    assert loaded.rows_read == 800 and loaded.excluded_needs_picture == 53
    assert "53 needing a picture excluded" in loaded.dataset.info.description
    full = load_benchmark("theoremqa", data_dir=shared_data, include_pictures=True)
    assert len(full) == 800 and sum(full["needs_picture"]) == 53
    by_type: dict[str, set[str]] = {}
    for answer, kind in zip(full["answer"], full["answer_type"], strict=True):
        by_type.setdefault(kind, set()).add(answer)
    assert by_type["bool"] == {"True", "False"}
    assert all(a.startswith("(") and a.endswith(")") for a in by_type["option"])
    assert all(a.startswith("[") and a.endswith("]") for a in by_type["list of float"])
    assert "0.955" in by_type["float"]  # digits as written, no float noise
    assert r"3 \times 10^{-36}" in by_type["float"]
    by_id = dict(zip(full["id"], full["answer"], strict=True))
    assert by_id["theoremqa/test/jianyu_xu/Lah_number_6"] == "11760"


def test_real_olympiadbench(shared_data: Path) -> None:
    ds = load_benchmark("olympiadbench", data_dir=shared_data)
    assert sum(ds["multi_answer"]) == 94
    assert [t for t in ds["tolerance"] if t is not None] == [0.1]
    assert sum(u is not None for u in ds["unit"]) == 8
    assert all(r["answer"] == ", ".join(r["answers"]) for r in ds)
    assert Counter(ds["answer_type"]) == {
        "Numerical": 572,
        "Expression": 64,
        "Tuple": 33,
        "Interval": 6,
    }


def test_real_college_math_domains(shared_data: Path) -> None:
    ds = load_benchmark("college_math", data_dir=shared_data)
    assert ds[0]["id"] == "college_math/test/Beginning_and_Intermediate_Algebra/exercise.0.4.61"
    assert ds[0]["answer"] == "$10-4 n$"
    assert "linear_algebra" in set(ds["domain"])


def test_data_dir_from_environment(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.DATA_DIR_ENV, str(shared_data))
    assert len(load_benchmark("math500")) == 500


def test_pools_concatenate(shared_data: Path) -> None:
    ds = load_pools(["math", "gsm8k"], data_dir=shared_data)
    assert len(ds) == 7500 + 7473
    _check_schema(ds)
    with pytest.raises(DartError, match="share ids"):
        load_pools(["gsm8k", "gsm8k"], data_dir=shared_data, limit=3)


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


def test_bundled_ids_match_full_data(shared_data: Path) -> None:
    for name in POOLS:
        full = set(load_pool(name, data_dir=shared_data)["id"])
        assert set(load_pool(name)["id"]) <= full
    for name in BENCHMARKS:
        full_ds = load_benchmark(name, data_dir=shared_data, include_pictures=True)
        full = dict(zip(full_ds["id"], full_ds["answer"], strict=True))
        small = load_benchmark(name, include_pictures=True)
        assert all(full[i] == a for i, a in zip(small["id"], small["answer"], strict=True))


def test_bundled_data_script_reproduces(shared_data: Path, tmp_path: Path) -> None:
    script = REPO / "scripts" / "make_bundled_data.py"
    cmd = [sys.executable, str(script), "--src", str(shared_data), "--out", str(tmp_path)]
    subprocess.run(cmd, check=True, capture_output=True)
    for path in tmp_path.rglob("*.jsonl"):
        shipped = sources.bundled_data_dir() / path.relative_to(tmp_path)
        assert path.read_bytes() == shipped.read_bytes(), path


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
        datasets.Dataset.from_list(rows[3 * k : 3 * k + 3]).to_parquet(
            shards / f"shard-{k:05d}.parquet"
        )
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


def test_cli_benchmarks_data_dir(shared_data: Path) -> None:
    result = CliRunner().invoke(cli, ["benchmarks", "--data-dir", str(shared_data)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[1:8]}
    assert rows == {name: str(n) for name, n in BENCHMARK_ROWS.items()}
    assert "53 need a picture (excluded)" in result.output


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


def test_level_fix_without_unique_ids(shared_data: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (shared_data / "math/train.jsonl").open()]
    unknown = [{k: v for k, v in r.items() if k != "unique_id"} for r in rows if "?" in r["level"]]
    ds = load_pool(_write_jsonl(tmp_path / "q.jsonl", unknown))
    assert ds["level"] == [2, 1] and ds["id"] == ["math/train/0", "math/train/1"]
