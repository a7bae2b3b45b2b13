"""Reliability (issue 27, phase 2) of whole commands on their output folders: builds whose
releases come out empty, damaged or missing files, a read-only file system, kills between the
renames of a move-in, and what `dart-hf regrade` reports."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from helpers import write_recipe

from dart_hf.build import run as build
from dart_hf.cli import cli

QUESTIONS = [
    ("What is 2 + 3?", "5"),
    ("What is 7 - 4?", "3"),
    ("What is 6 * 2?", "12"),
    ("What is 9 + 9?", "18"),
]
SETTINGS = {
    "engine": "scripted",
    "template": "deepseekmath",
    "temperature": 1.0,
    "max_tokens": 4096,
    "strategies": "uniform",
    "k_u": 1,
    "max_trials": 4,
    "difficulty_samples": 2,
    "round_cap": 2,
    "shard_size": 2,
    "num_proc": 1,
    "decontaminate": False,
}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _gsm8k_pool(path: Path) -> Path:
    return _jsonl(path, [{"question": q, "answer": f"We compute it.\n#### {a}"} for q, a in QUESTIONS])


def _build(tmp: Path, settings: dict, out: Path) -> tuple[int, str]:
    recipe = write_recipe(tmp / "recipe.yaml", settings)
    res = CliRunner().invoke(cli, ["build", "--config", recipe, "-o", str(out)])
    return res.exit_code, res.output


def _rows(release: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in release.rglob("*.parquet"))


# ------------------------------------------------------------------ item 1: empty releases


def test_a_build_whose_samples_are_all_truncated_finishes_with_empty_releases(
    tmp_path: Path,
) -> None:
    """Issue 27.1: every sample cut at max_tokens (3 words) typed `pred` null and the build
    stopped at assembly; now it finishes, the release is empty and its card says why, and a
    regrade of the folder works and leaves no `.regrade/`."""
    out = tmp_path / "run"
    settings = {**SETTINGS, "pool": str(_gsm8k_pool(tmp_path / "pool.jsonl")), "max_tokens": 3}
    rc, output = _build(tmp_path, settings, out)
    assert rc == 0 and "Traceback" not in output, output
    uniform = out / "releases" / "dart-math-uniform"
    assert _rows(uniform) == 0
    assert "(empty: data/train hold no rows" in output
    card = (uniform / "README.md").read_text(encoding="utf-8")
    assert (
        "**This release holds no rows:** every one of the 16 raw samples was cut off at "
        "`max_tokens` (3)" in card
    )
    assert "| raw samples cut off at `max_tokens` (counted as wrong) | 16 |" in card
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["truncated_samples"] == stats["totals"]["raw_samples"] == 16
    res = CliRunner().invoke(cli, ["regrade", str(out)])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    assert not (out / ".regrade").exists()
    assert json.loads((out / "regrade.json").read_text())  # a report, not an empty one


def test_a_majority_build_without_any_majority_finishes_with_empty_releases(
    tmp_path: Path,
) -> None:
    """Issue 27.1: `gold: majority` where every query's votes scatter left no query open after
    the vote, so the fail-rate phase never ran and assembly failed on the missing targets
    (`KeyError: 'target_uniform'`). Now the build finishes, the typed columns stay typed, the
    card says why the release is empty, and regrade refuses such a build in one line."""
    pool = _jsonl(tmp_path / "pool.jsonl", [{"query": q} for q, _ in QUESTIONS])
    scatter = [str(1000 + k) for k in range(50)]
    model = _jsonl(
        tmp_path / "model.jsonl",
        [{"query": q, "answer": a, "pass_rate": 0.0, "wrong_answers": scatter} for q, a in QUESTIONS],
    )
    out = tmp_path / "run"
    settings = {**SETTINGS, "pool": str(pool), "gold": "majority", "engine_options": {"table": str(model)}}
    rc, output = _build(tmp_path, settings, out)
    assert rc == 0 and "Traceback" not in output, output
    uniform = out / "releases" / "dart-math-uniform"
    assert _rows(uniform) == 0
    card = (uniform / "README.md").read_text(encoding="utf-8")
    assert (
        "**This release holds no rows:** no query has a gold answer: the vote "
        "(`gold: majority`) found no clear majority" in card
    )
    queries = pq.read_table(out / "releases" / "dart-math-pool" / "queries")
    assert queries.column("stop_reason").to_pylist() == ["no_majority"] * 4
    assert str(queries.schema.field("gold_source").type) == "string"
    assert str(queries.schema.field("target_uniform").type) == "int64"
    samples = pq.read_table(out / "releases" / "dart-math-pool" / "samples")
    assert str(samples.schema.field("correct").type) == "bool"
    assert str(samples.schema.field("pred").type) == "string"
    votes = pq.read_table(out / "gold-majority.parquet")
    assert str(votes.schema.field("gold_source").type) == "string"
    res = CliRunner().invoke(cli, ["regrade", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "gold: majority; regrading such a build is not supported" in res.output
    assert not (out / ".regrade").exists()
    rc, output = _build(tmp_path, settings, out)  # resumes to the same releases
    assert rc == 0 and _rows(uniform) == 0, output


# ------------------------------------------------------------------ a finished build, damaged


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A small finished scripted build (every query reaches its target in round 0), copied
    by each test that damages it."""
    tmp = tmp_path_factory.mktemp("finished")
    settings = {**SETTINGS, "pool": str(_gsm8k_pool(tmp / "pool.jsonl"))}
    out = tmp / "run"
    build.run_build(settings, out)
    assert (out / "rounds" / "round-000" / "graded.arrow").is_file()
    return out, settings


def _copy(finished: tuple[Path, dict], tmp_path: Path) -> tuple[Path, dict]:
    src, settings = finished
    out = tmp_path / "run"
    shutil.copytree(src, out)
    return out, settings


def _tables(out: Path) -> dict[str, list]:
    return {
        str(f.relative_to(out)): pq.read_table(f).to_pylist()
        for f in sorted((out / "releases").rglob("*.parquet"))
    }


def test_a_missing_graded_round_is_graded_again_from_its_shards(
    finished: tuple[Path, dict], tmp_path: Path
) -> None:
    """Issue 27.4: a finished round whose graded.arrow was gone gave smaller releases (rc 0,
    no word) while stats.json counted every raw sample."""
    out, settings = _copy(finished, tmp_path)
    before = _tables(out)
    (out / "rounds" / "round-000" / "graded.arrow").unlink()
    result = build.run_build(settings, out)
    assert (out / "rounds" / "round-000" / "graded.arrow").is_file()
    assert _tables(out) == before  # the same rows, verdicts and order
    samples = pq.read_table(out / "releases" / "dart-math-pool" / "samples").num_rows
    assert samples == result.stats.totals.raw_samples


def test_a_missing_graded_round_without_its_shards_is_one_line(
    finished: tuple[Path, dict], tmp_path: Path
) -> None:
    out, settings = _copy(finished, tmp_path)
    graded = out / "rounds" / "round-000" / "graded.arrow"
    graded.unlink()
    (out / "rounds" / "round-000" / "shard-00001.parquet").unlink()
    rc, output = _build(tmp_path, settings, out)
    assert rc == 1 and "Traceback" not in output, output
    line = output.strip().splitlines()[-1]
    assert f"{graded} is missing and so is " in line and "shard-00001.parquet" in line
    assert "restore the files, or build into a new --out" in line


# ------------------------------------------------------------------ item 7: damaged files


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGED = [  # (command, file, damage, what the line says to do)
    ("build", "rounds/round-000/graded.arrow", "cut", "delete it and rerun the same command"),
    ("build", "rounds/round-000/meta.json", "cut", "delete it and rerun the same command"),
    ("build", "state/round-000.parquet", "cut", "delete it and rerun the same command"),
    ("build", ".dart-hf.lock", "folder", "remove it and rerun the same command"),
    ("regrade", "rounds/round-000/shard-00000.parquet", "cut", "restore it, or build into"),
    ("regrade", "rounds/round-000/graded.arrow", "cut", "delete it, rerun `dart-hf build"),
    ("regrade", "rounds/round-000/sampling.json", "cut", "restore it, or build into"),
    ("regrade", ".regrade", "file", "delete it and rerun the same command"),
]


@pytest.mark.parametrize(
    ("command", "name", "damage", "remedy"), DAMAGED, ids=[f"{c}-{n}" for c, n, _, _ in DAMAGED]
)
def test_a_damaged_file_of_a_build_is_one_line_naming_it(
    finished: tuple[Path, dict],
    tmp_path: Path,
    command: str,
    name: str,
    damage: str,
    remedy: str,
) -> None:
    """Issue 27.7: each of these gave a traceback naming no file (ArrowInvalid,
    JSONDecodeError, IsADirectoryError, FileExistsError)."""
    out, settings = _copy(finished, tmp_path)
    path = out / name
    if damage == "cut":
        _cut(path)
    elif damage == "folder":
        path.unlink(missing_ok=True)
        path.mkdir()
    else:
        path.write_text("x")
    if command == "build":
        rc, output = _build(tmp_path, settings, out)
    else:
        res = CliRunner().invoke(cli, ["regrade", str(out)])
        rc, output = res.exit_code, res.output
    assert rc == 1 and "Traceback" not in output, output
    line = output.strip().splitlines()[-1]
    assert line.startswith(f"Error: {path} ") and remedy in line, line
    assert not (out / ".regrade").is_dir()  # nothing staged: the remedy is not a loop
    if damage == "cut" and remedy.startswith("delete it and rerun"):
        path.unlink()  # the remedy works, and the releases are whole again
        rc, output = _build(tmp_path, settings, out)
        assert rc == 0, output
        assert _tables(out) == _tables(finished[0])


def test_a_damaged_graded_round_in_regrade_is_repaired_by_the_build(
    finished: tuple[Path, dict], tmp_path: Path
) -> None:
    """The regrade's remedy, followed: delete, build (it grades the round again), regrade;
    a rerun of the finished regrade keeps its report (issue 27.9)."""
    out, settings = _copy(finished, tmp_path)
    (out / "rounds" / "round-000" / "graded.arrow").unlink()
    rc, output = _build(tmp_path, settings, out)
    assert rc == 0 and "graded again from round 0's 8 raw samples" in output, output
    res = CliRunner().invoke(cli, ["regrade", str(out)])
    assert res.exit_code == 0 and "wrote " in res.output, res.output
    report = (out / "regrade.json").read_text()
    res = CliRunner().invoke(cli, ["regrade", str(out)])
    assert res.exit_code == 0, res.output
    assert "nothing changed: " in res.output and "keeps the last regrade's report" in res.output
    assert (out / "regrade.json").read_text() == report


# ------------------------------------------------------------------ evaluation folders


def _eval(tmp: Path, golds: list[str]) -> tuple:
    """A scripted evaluation on 4 GSM8K-format items with these golds (ev, config, spec)."""
    from dart_hf.engines import EngineSpec
    from dart_hf.evaluation import run as ev

    data = tmp / "data"
    (data / "gsm8k").mkdir(parents=True, exist_ok=True)
    _jsonl(
        data / "gsm8k" / "test.jsonl",
        [
            {"question": q, "answer": f"We compute it.\n#### {g}"}
            for (q, _), g in zip(QUESTIONS, golds, strict=True)
        ],
    )
    table = _jsonl(tmp / "table.jsonl", [{"query": q, "answer": a, "level": 0} for q, a in QUESTIONS])
    spec = EngineSpec(
        backend="scripted", model="scripted-eval", max_model_len=6144, options=(("table", str(table)),)
    )
    config = ev.EvalConfig(benchmarks=("gsm8k",), template="alpaca", max_tokens=4096, data_dir=str(data))
    return ev, config, spec


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation graded on golds of which the first is wrong ("6" for 2 + 3)."""
    tmp = tmp_path_factory.mktemp("eval")
    ev, config, spec = _eval(tmp, ["6", "3", "12", "18"])
    out = tmp / "out"
    ev.run_eval(config, out, engine_spec=spec, progress=False)
    return out


def _eval_copy(evaluated: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(evaluated, out)
    for f in out.rglob("*.json"):  # the settings name the data and the engine's table
        f.write_text(f.read_text().replace(str(evaluated.parent), str(tmp_path)))
    shutil.copytree(evaluated.parent / "data", tmp_path / "data")
    shutil.copy(evaluated.parent / "table.jsonl", tmp_path / "table.jsonl")
    return out


def _fix_golds(tmp_path: Path) -> None:
    _eval(tmp_path, [a for _, a in QUESTIONS])  # the first gold corrected: a regrade's work


@pytest.mark.parametrize(
    "name", ["samples/gsm8k/seed-0/shard-00000.parquet", "results.json", ".regrade", ".dart-hf.lock"]
)
def test_a_damaged_file_of_an_evaluation_is_one_line_naming_it(
    evaluated: Path, tmp_path: Path, name: str
) -> None:
    out = _eval_copy(evaluated, tmp_path)
    path = out / name
    if name == ".regrade":
        path.write_text("x")
    elif name == ".dart-hf.lock":
        path.unlink(missing_ok=True)
        path.mkdir()
    else:
        _cut(path)
    res = CliRunner().invoke(cli, ["regrade", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    line = res.output.strip().splitlines()[-1]
    assert line.startswith(f"Error: {path} ") and ("delete it" in line or "remove it" in line)


def test_an_evaluation_regrade_killed_and_rerun_reports_the_accuracy_before(
    evaluated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 27.9: killed after the evaluation was graded again (results.json rewritten), the
    rerun took its "before" from the new results.json and reported before == after."""
    from dart_hf.build import regrade

    out = _eval_copy(evaluated, tmp_path)
    _fix_golds(tmp_path)
    before = json.loads((out / "results.json").read_text())["benchmarks"]["gsm8k"]["accuracy"]

    def killed(*args: object) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(regrade, "save_report", killed)
    with pytest.raises(KeyboardInterrupt):
        regrade.regrade(out)
    monkeypatch.undo()
    result = regrade.regrade(out)
    was, now = result.report["accuracy"]["gsm8k"]
    assert was == before and now != was
    assert result.report["verdicts"]["wrong_to_correct"] + result.report["verdicts"]["correct_to_wrong"] > 0
    assert not (out / ".regrade").exists()


def test_an_evaluation_regrade_refused_by_the_lock_leaves_no_snapshot(
    evaluated: Path, tmp_path: Path
) -> None:
    """Issue 27.9: the "before" snapshot was written before the folder's lock was taken, so a
    refused regrade left a stale one that the next regrade used."""
    from dart_hf import outputs
    from dart_hf.build import regrade
    from dart_hf.errors import DartError

    out = _eval_copy(evaluated, tmp_path)
    _fix_golds(tmp_path)
    with outputs.folder_lock(out, "eval"), pytest.raises(DartError, match="in use"):
        regrade.regrade(out)
    assert not (out / ".regrade").exists()


# ------------------------------------------------------------------ item 6: read-only disk


@contextlib.contextmanager
def _read_only(path: Path):  # type: ignore[no-untyped-def]
    """A real tmpfs at `path`, remounted read-only inside the block (root only; the test skips
    where mounts fail)."""
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(path)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _remount_ro(path: Path) -> None:
    res = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot remount read-only: {res.stderr.strip()}")


def test_a_read_only_file_system_is_one_line_in_every_command(
    finished: tuple[Path, dict], evaluated: Path, tmp_path: Path
) -> None:
    """Issue 27.6: EROFS gave a raw OSError traceback in build, regrade, eval, sample and
    grade (the lock turned PermissionError into a line, not EROFS)."""
    src, settings = finished
    ev, config, spec = _eval(tmp_path, [a for _, a in QUESTIONS])
    recipe = write_recipe(tmp_path / "recipe.yaml", settings)
    data = _jsonl(tmp_path / "graded-in.jsonl", [{"response": "\\boxed{5}", "answer": "5"}])
    with _read_only(tmp_path / "disk") as disk:
        shutil.copytree(src, disk / "build")  # finished work, on a disk that is then read-only
        shutil.copytree(evaluated, disk / "eval")
        _remount_ro(disk)
        eval_args = [
            "eval",
            "--engine",
            "scripted",
            "--benchmarks",
            "gsm8k",
            "--template",
            "alpaca",
            "--max-tokens",
            "4096",
            "--data-dir",
            config.data_dir,
            "--model",
            "scripted-eval",
            "--engine-option",
            f"table={dict(spec.options)['table']}",
        ]
        runs = {
            "build": ["build", "--config", recipe, "-o", str(disk / "build")],
            "build-new": ["build", "--config", recipe, "-o", str(disk / "new")],
            "regrade": ["regrade", str(disk / "build")],
            "eval": [*eval_args, "-o", str(disk / "eval2")],
            "sample": [
                "sample",
                "--engine",
                "scripted",
                "--pool",
                str(_gsm8k_pool(tmp_path / "pool.jsonl")),
                "-o",
                str(disk / "samples"),
            ],
            "grade": ["grade", str(data), "-o", str(disk / "graded.jsonl")],
        }
        for name, args in runs.items():
            res = CliRunner().invoke(cli, args)
            assert res.exit_code == 1 and "Traceback" not in res.output, (name, res.output)
            line = res.output.strip().splitlines()[-1]
            assert "is on a read-only file system" in line and str(disk) in line, (name, line)


# ------------------------------------------------------------------ item 14: Ctrl-C


SLOW_STOP = """
import sys, time
from dart_hf.grading import grade as grading
real = grading.GradingPool.close
def slow(self):
    print("STOPPING", flush=True)
    time.sleep(3)
    real(self)
grading.GradingPool.close = slow
if __name__ == "__main__":
    from dart_hf.cli import cli
    cli(["regrade", sys.argv[1]])
"""


def test_ctrl_c_at_the_end_of_a_regrade_is_not_swallowed(finished: tuple[Path, dict], tmp_path: Path) -> None:
    """Issue 27.14: a Ctrl-C once the move-in was done, while the grading workers stopped at
    exit (`atexit`), printed "Exception ignored" and the command ended with status 0."""
    import os
    import signal
    import sys

    from helpers import REPO

    out, _ = _copy(finished, tmp_path)
    script = tmp_path / "slow_stop.py"
    script.write_text(SLOW_STOP)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "STOPPING" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0, err
    assert "Aborted!" in err and "Exception ignored" not in err, err
    assert not (out / ".regrade").exists()  # the move-in had finished: nothing to resume
