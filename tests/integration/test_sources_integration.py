"""Data sources on the full data folder (../shared/data): every pool and benchmark read and
normalised, the bundled slices against the full files, the data dir from the environment."""

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
from helpers import check_source_schema as _check_schema

from dart_hf import sources
from dart_hf.benchmarks import BENCHMARKS
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.sources import (
    POOLS,
    load_benchmark,
    load_benchmark_source,
    load_pool,
    load_pool_source,
    load_pools,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(sources.DATA_DIR_ENV, raising=False)
    enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    yield
    if enabled:
        datasets.enable_progress_bars()


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


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


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


def test_cli_benchmarks_data_dir(shared_data: Path) -> None:
    result = CliRunner().invoke(cli, ["benchmarks", "--data-dir", str(shared_data)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[1:8]}
    assert rows == {name: str(n) for name, n in BENCHMARK_ROWS.items()}
    assert "53 need a picture (excluded)" in result.output


def test_level_fix_without_unique_ids(shared_data: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (shared_data / "math/train.jsonl").open()]
    unknown = [{k: v for k, v in r.items() if k != "unique_id"} for r in rows if "?" in r["level"]]
    ds = load_pool(_write_jsonl(tmp_path / "q.jsonl", unknown))
    assert ds["level"] == [2, 1] and ds["id"] == ["math/train/0", "math/train/1"]
