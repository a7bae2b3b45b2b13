"""perf/compare_outputs.py: the identical-output check that guards refactors.

The script runs old and new code through their CLI in child processes; here the same
`prepare_inputs`, `produce` and `compare_trees` run on the working tree: twice (the outputs
must be deterministic, or the check would flag every refactor) and against deliberately
changed copies.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO

sys.path.insert(0, str(REPO / "perf"))
import compare_outputs as co  # noqa: E402

POOL = "build/releases/dart-math-pool/samples/train-00000-of-00001.parquet"
UNIFORM_CARD = "build/releases/dart-math-uniform/README.md"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of every case by the same code, side by side (each is a chain of CLI child
    processes, mostly start-up: together they take about half the time of one after the
    other)."""
    from concurrent.futures import ThreadPoolExecutor

    tmp = tmp_path_factory.mktemp("compare")
    inputs = co.prepare_inputs(tmp / "inputs", queries=8, eval_items=1)
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda name: co.produce(REPO, inputs, tmp / name), ["a", "b"])
    return a, b


def _copy(run: Path, to: Path) -> Path:
    """A copy of a run, as if written in `to` (its paths moved along)."""
    shutil.copytree(run, to)
    for f in to.rglob("*.json"):
        f.write_text(f.read_text(encoding="utf-8").replace(str(run), str(to)), "utf-8")
    return to


def _unexpected(rows: list[co.Row]) -> list[str]:
    return [f"{r.path}: {r.status}" for r in rows if r.unexpected]


def test_two_runs_of_the_same_code_are_identical(two_runs: tuple[Path, Path]) -> None:
    a, b = two_runs
    rows = co.compare_trees(a, b)
    assert _unexpected(rows) == []
    paths = {r.path for r in rows}
    # every release, the statistics and the evaluation outputs are compared
    assert {POOL, UNIFORM_CARD, "build/stats.json", "eval/results.json", "eval/results.md"} <= paths
    assert {"majority/stats.json", "regrade/regrade.json", "regrade/stats.json"} <= paths
    assert any(p.startswith("build/releases/vrt/data/") for p in paths)
    assert any(p.startswith("majority/releases/dart-math-pool/queries/") for p in paths)
    assert any(p.startswith("regrade/releases/dart-math-hard/data/") for p in paths)
    assert any(p.startswith("eval/predictions/math/") for p in paths)
    # parquet files are the same bytes, not merely equal after normalising
    assert all(r.status == "identical" for r in rows if r.path.endswith(".parquet"))
    assert "0 unexpected" in co.format_table(rows)


def test_a_changed_file_is_detected(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    c = _copy(b, tmp_path / "c")
    table = pq.read_table(c / POOL)
    responses = table["response"].to_pylist()
    responses[0] += " "
    pq.write_table(
        table.set_column(table.schema.get_field_index("response"), "response", pa.array(responses)), c / POOL
    )
    card = c / UNIFORM_CARD
    card.write_text(card.read_text(encoding="utf-8").replace("MATH", "MATH!", 1), "utf-8")
    (c / "build/stats.json").unlink()

    rows = {r.path: r for r in co.compare_trees(a, c)}
    assert rows[POOL].status == "different" and rows[POOL].unexpected
    assert rows[UNIFORM_CARD].status == "different"
    assert rows["build/stats.json"].status == "only old"
    assert sorted(_unexpected(list(rows.values()))) == sorted(
        [f"{POOL}: different", f"{UNIFORM_CARD}: different", "build/stats.json: only old"]
    )
    # declared differences are reported but not unexpected
    declared = co.compare_trees(a, c, expected=["build/releases/**", "build/stats.json"])
    assert _unexpected(declared) == []
    assert {r.path: r.status for r in declared}[POOL] == "expected (different)"


def test_a_declared_new_column_is_expected_and_the_rest_still_compared(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two_runs
    c = _copy(b, tmp_path / "c")
    table = pq.read_table(c / POOL)
    pq.write_table(table.append_column("extra_flag", pa.array([None] * len(table), pa.string())), c / POOL)
    glob = "build/releases/dart-math-pool/samples/*.parquet"
    assert {r.path: r.status for r in co.compare_trees(a, c)}[POOL] == "different"
    rows = {r.path: r for r in co.compare_trees(a, c, expected=[f"{glob}:extra_flag"])}
    assert rows[POOL].status == "expected (columns extra_flag)" and not rows[POOL].unexpected
    # the declared column does not hide a change elsewhere in the table
    responses = table["response"].to_pylist()
    responses[-1] = "changed"
    changed = table.set_column(table.schema.get_field_index("response"), "response", pa.array(responses))
    pq.write_table(changed.append_column("extra_flag", pa.array([None] * len(table), pa.string())), c / POOL)
    rows = {r.path: r for r in co.compare_trees(a, c, expected=[f"{glob}:extra_flag"])}
    assert rows[POOL].status == "different" and rows[POOL].unexpected
