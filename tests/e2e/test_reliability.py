"""Reliability (issue 14) and fingerprints of existing outputs (issue 12, item 4).

Each test reproduces one failure an adversarial user met: stale grading reused after the
golds or the grader changed, two runs in one folder, a lock left by a killed run, half-written
releases, a full disk, misspelled or mistyped recipe keys, and bad flag values.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from dart_hf import build, grading, outputs
from dart_hf.cli import cli
from dart_hf.errors import DartError

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = [
    ("What is 2 + 3?", "5"),
    ("What is 7 - 4?", "3"),
    ("What is 6 * 2?", "12"),
    ("What is 9 + 9?", "18"),
]


def _pool(path: Path, golds: list[str] | None = None) -> Path:
    """A GSM8K-format pool file (same ids for the same row order)."""
    golds = golds or [a for _, a in QUESTIONS]
    rows = [
        {"question": q, "answer": f"We compute it.\n#### {a}"}
        for (q, _), a in zip(QUESTIONS, golds, strict=True)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _settings(pool: Path) -> dict:
    return {
        "engine": "scripted",
        "pool": str(pool),
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


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("tiny")
    pool = _pool(tmp / "pool.jsonl")
    out = tmp / "run"
    build.run_build(_settings(pool), out)
    return out, pool, _settings(pool)


# ------------------------------------------------------------------ fingerprints (A)


def test_changed_golds_are_refused_not_reused(tiny_build: tuple, tmp_path: Path) -> None:
    """Issue 14.2: same ids, other gold answers: the rerun refuses instead of reusing grades."""
    out, pool, settings = tiny_build
    original = pool.read_bytes()
    _pool(pool, ["6", "3", "12", "18"])  # the same file, the same questions and ids
    try:
        with pytest.raises(DartError) as err:
            build.run_build(settings, out)
    finally:
        pool.write_bytes(original)
    text = str(err.value)
    assert "gold_hash changed (the gold answers changed)" in text
    assert "queries_hash" not in text  # the questions are the same
    assert "use a new --out" in text
    # the same command with the same pool still resumes (nothing to redo)
    build.run_build(settings, out)


def test_another_grader_is_refused(tiny_build: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.4: a build graded by another grader version is not resumed with this one."""
    out, _, settings = tiny_build
    monkeypatch.setattr(grading, "GRADE_VERSION", "999")
    with pytest.raises(DartError, match=r"grader.grade_version .* -> \"999\" \(the grader"):
        build.run_build(settings, out)


def test_other_settings_are_named_with_old_and_new_values(tiny_build: tuple) -> None:
    out, _, settings = tiny_build
    res = CliRunner().invoke(
        cli, ["build", "--config", _recipe(out.parent / "r.yaml", {**settings, "k_u": 2}),
              "-o", str(out)],
    )  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "holds a build made with other settings: k_u 1 -> 2." in res.output


def test_push_and_org_do_not_change_the_fingerprint(tiny_build: tuple) -> None:
    out, _, settings = tiny_build
    result = build.run_build({**settings, "org": "someone"}, out)  # cards only
    assert result.releases["uniform"].name == "dart-math-uniform"


def test_guard_names_each_difference_and_replaces_an_unfinished_record(tmp_path: Path) -> None:
    record = tmp_path / "rec.json"
    fp = {"settings": {"a": 1, "b": "x"}, "grader": {"version": "1"}, "data": {"gold_hash": "h"}}
    assert outputs.check_fingerprint(record, fp, what="w", has_work=True) == "created"
    assert outputs.check_fingerprint(record, fp, what="w", has_work=True) == "same"
    other = {**fp, "settings": {"a": 2, "b": "x"}, "grader": {"version": "2"}}
    with pytest.raises(DartError) as err:
        outputs.check_fingerprint(record, other, what="w", has_work=True)
    assert (
        'grader.version "1" -> "2" (the grader changed since this folder was made); a 1 -> 2.'
        in str(err.value)
    )
    assert outputs.check_fingerprint(record, other, what="w", has_work=False) == "replaced"
    regraded = {**other, "grader": {"version": "3"}}
    assert outputs.check_fingerprint(
        record, regraded, what="w", has_work=True, allow=("grader",)
    ) == "updated"  # fmt: skip


def test_failed_first_sample_does_not_block_the_corrected_command(tmp_path: Path) -> None:
    """Issue 14.5: the engine fails before any shard; the corrected command (other engine
    options) runs; once shards exist a real difference is refused and named."""
    from dart_hf.sources import load_pool

    out = tmp_path / "o"
    base = ["sample", "--engine", "scripted", "--pool", "gsm8k", "--limit", "2",
            "--template", "deepseekmath", "--max-tokens", "2000", "-o", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, base)
    assert res.exit_code == 1 and "needs the option 'table'" in res.output
    table = tmp_path / "t.parquet"
    load_pool("gsm8k", limit=2).to_parquet(str(table))
    recipe = _recipe(tmp_path / "r.yaml", {"engine_options": {"table": str(table)}})
    res = CliRunner().invoke(cli, [*base, "--config", recipe])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, [*base, "--config", recipe, "--temperature", "0.5"])
    assert res.exit_code == 1
    assert "holds shards made with other settings: sampling.temperature 1.0 -> 0.5" in res.output


def _scripted_eval(tmp_path: Path, golds: list[str]) -> tuple:
    from dart_hf import evaluation as ev
    from dart_hf.engines import EngineSpec

    data = tmp_path / "data"
    (data / "gsm8k").mkdir(parents=True, exist_ok=True)
    _pool(data / "gsm8k" / "test.jsonl", golds)
    table = tmp_path / "table.jsonl"
    table.write_text(
        "".join(json.dumps({"query": q, "answer": a, "level": 0}) + "\n" for q, a in QUESTIONS)
    )
    # as `dart-hf eval --engine scripted --model scripted-eval --engine-option table=...` makes
    spec = EngineSpec(backend="scripted", model="scripted-eval", max_model_len=6144,
                      options=(("table", str(table)),))  # fmt: skip
    config = ev.EvalConfig(benchmarks=("gsm8k",), template="alpaca", max_tokens=4096,
                           data_dir=str(data))  # fmt: skip
    return ev, config, spec


def test_eval_refuses_other_golds_or_grader_and_regrades_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ev, config, spec = _scripted_eval(tmp_path, [a for _, a in QUESTIONS])
    out = tmp_path / "out"
    first = ev.run_eval(config, out, engine_spec=spec, progress=False)
    shards = sorted((out / "samples").rglob("shard-*.parquet"))
    before = {p: p.stat().st_mtime_ns for p in shards}
    ev, config, spec = _scripted_eval(tmp_path, ["6", "3", "12", "18"])  # first gold changed
    with pytest.raises(DartError) as err:
        ev.run_eval(config, out, engine_spec=spec, progress=False)
    assert "gold_hash changed (the gold answers changed)" in str(err.value)
    assert "rerun with --regrade" in str(err.value)
    again = ev.run_eval(config, out, engine_spec=spec, progress=False, regrade=True)
    assert {p: p.stat().st_mtime_ns for p in shards} == before  # no sample regenerated
    gsm = again["benchmarks"]["gsm8k"]
    assert gsm["per_seed"] != first["benchmarks"]["gsm8k"]["per_seed"]  # graded on new golds
    from datasets import load_dataset

    preds = load_dataset(str(out / "predictions"), "gsm8k", split="test")
    assert preds["gold"][0] == "6"
    monkeypatch.setattr(grading, "GRADE_VERSION", "999")
    args = ["eval", "--engine", "scripted", "--benchmarks", "gsm8k", "--template", "alpaca",
            "--max-tokens", "4096", "--data-dir", config.data_dir, "--model", "scripted-eval",
            "--engine-option", f"table={dict(spec.options)['table']}", "-o", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1, res.output
    assert "the grader changed" in res.output and "--regrade" in res.output
    res = CliRunner().invoke(cli, [*args, "--regrade"])
    assert res.exit_code == 0, res.output


# ------------------------------------------------------------------ lock (B)

HOLDER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from dart_hf.outputs import folder_lock

    with folder_lock(sys.argv[1], "test"):
        # an engine worker forked with the lock's fd, and one exec'd with the fd passed on
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        fd = os.open(os.path.join(sys.argv[1], ".dart-hf.lock"), os.O_RDONLY)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=[fd])
        print("locked", flush=True)
        time.sleep(60)
    """
)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def test_lock_refuses_a_busy_folder_and_dies_with_its_holder(tmp_path: Path) -> None:
    """Issue 14.3: a second run is refused while the first runs; after kill -9 of the first
    the folder is free at once, although its orphaned workers still hold the lock file open."""
    out = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE,
                              cwd=REPO, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    orphans = _children(holder.pid)
    try:
        assert len(orphans) == 2
        busy = rf"in use by another run \(pid {holder.pid}, dart-hf test, since "
        with pytest.raises(DartError, match=busy), outputs.folder_lock(out, "build"):
            pass
        res = CliRunner().invoke(cli, ["sample", "--pool", "gsm8k", "--engine", "scripted",
                                       "-o", str(out)])  # fmt: skip
        assert res.exit_code == 1 and "in use by another run" in res.output
        res = CliRunner().invoke(cli, ["build", "--engine", "scripted", "--limit", "2",
                                       "-o", str(out)])  # fmt: skip
        assert res.exit_code == 1 and "in use by another run" in res.output  # not run twice
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        assert all(Path(f"/proc/{p}").exists() for p in orphans)  # still alive, fd inherited
        with (
            outputs.folder_lock(out, "build"),  # free at once
            pytest.raises(DartError, match="already in use by this process"),
            outputs.folder_lock(out, "build"),
        ):
            pass
    finally:
        for p in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


# ------------------------------------------------------------------ releases (C)


def test_a_failure_during_assembly_leaves_no_half_release(
    tiny_build: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14.4: a build that dies while writing the cards leaves every release complete or
    absent (here: killed at the pool release's card), and the rerun completes them."""
    import shutil

    from dart_hf import cards, hub

    src, _, settings = tiny_build
    out = tmp_path / "run"
    shutil.copytree(src, out)
    shutil.rmtree(out / "releases")
    real = cards.write_card

    def dies_at_the_pool(folder: Path, kind: str, *args: object, **kw: object) -> object:
        if kind == "pool":
            (Path(folder) / "README.md").write_text("---\nconfigs: []\n---\n")  # YAML, no card
            raise RuntimeError("killed")
        return real(folder, kind, *args, **kw)

    monkeypatch.setattr(cards, "write_card", dies_at_the_pool)
    with pytest.raises(RuntimeError):
        build.run_build(settings, out)
    visible = sorted(p.name for p in (out / "releases").iterdir() if not p.name.startswith("."))
    assert visible == ["dart-math-uniform"]  # finished before the failure, complete
    assert "DART" in (out / "releases" / "dart-math-uniform" / "README.md").read_text()
    assert hub.check_hub_folder(out / "releases" / "dart-math-uniform") == []
    monkeypatch.setattr(cards, "write_card", real)
    result = build.run_build(settings, out)
    assert sorted(p.name for p in (out / "releases").iterdir()) == [
        "dart-math-pool", "dart-math-uniform"
    ]  # fmt: skip
    assert set(result.releases) == {"uniform", "pool"}


# ------------------------------------------------------------------ disk full (D)


def _enospc(*_args: object, **_kw: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_in_sample_names_the_shard_and_leaves_no_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import Dataset

    from dart_hf.sources import load_pool

    table = tmp_path / "t.parquet"
    load_pool("gsm8k", limit=4).to_parquet(str(table))
    recipe = _recipe(tmp_path / "r.yaml", {"engine_options": {"table": str(table)}})
    out = tmp_path / "o"
    args = ["sample", "--engine", "scripted", "--pool", "gsm8k", "--limit", "4", "--config",
            recipe, "--template", "deepseekmath", "--max-tokens", "2000", "--shard-size", "2",
            "-o", str(out)]  # fmt: skip
    real = Dataset.to_parquet
    calls = []

    def full_at_second(self: Dataset, path: str, *a: object, **kw: object) -> object:
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_bytes(b"PAR1 partial")
            _enospc()
        return real(self, path, *a, **kw)

    monkeypatch.setattr(Dataset, "to_parquet", full_at_second)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert lines == [f"Error: disk full while writing {out / 'shard-00001.parquet'}: free some "
                     "space (or use another output folder) and rerun the same command; "
                     "finished work is kept"]  # fmt: skip
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    assert (out / "shard-00000.parquet").is_file()  # finished work kept
    monkeypatch.setattr(Dataset, "to_parquet", real)
    assert CliRunner().invoke(cli, args).exit_code == 0  # the same command resumes


def test_disk_full_in_build_is_one_line_and_leaves_no_tmp(
    tiny_build: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import pyarrow.parquet as pq

    src, _, settings = tiny_build
    out = tmp_path / "run"
    shutil.copytree(src, out)
    shutil.rmtree(out / "releases")
    real = pq.ParquetWriter.write_table

    def full(self: pq.ParquetWriter, *a: object, **kw: object) -> None:
        _enospc()

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(DartError, match=r"^disk full while writing .*: free some space") as err:
        build.run_build(settings, out)
    # the file being written is named, not only the folder
    assert "releases/.staging/dart-math-uniform/data/train-00000-of-00001.parquet:" in str(
        err.value
    )
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.name == ".staging"]
    monkeypatch.setattr(pq.ParquetWriter, "write_table", real)
    assert build.run_build(settings, out).releases


def test_disk_full_in_grade_on_a_real_full_device(tmp_path: Path) -> None:
    """`/dev/full` answers every write with ENOSPC: the grade output's temp file points there."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"response": "\\boxed{5}", "answer": "5"}) + "\n")
    out = tmp_path / "graded.jsonl"
    os.symlink("/dev/full", f"{out}.tmp")
    res = CliRunner().invoke(cli, ["grade", str(data), "-o", str(out)])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert f"disk full while writing {out}" in res.output
    assert not Path(f"{out}.tmp").exists() and not out.exists()


# ------------------------------------------------------------------ recipes and flags (E, F)


def _recipe(path: Path, body: dict) -> str:
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"k_uu": 7}, "unknown setting(s) 'k_uu' (did you mean k_u"),
        ({"difficulty_sample": 2}, "'difficulty_sample' (did you mean difficulty_samples"),
        ({"eval": {"benchmark": "math"}}, "`eval:`: unknown setting(s) 'benchmark' (did you"),
        ({"no_correct_stop": "no"}, "no_correct_stop must be true or false, got 'no'"),
        ({"budget": "lots"}, "budget must be an integer, got 'lots'"),
        ({"limit": 2.5}, "limit must be a whole number, got 2.5"),
        ({"shard_size": 1.5}, "shard_size must be a whole number, got 1.5"),
        ({"pool": 5}, "pool must be a list of names or paths, got 5"),
        ({"engine_options": 5}, "engine_options must be a mapping of option: value, got 5"),
        ({"temperature": [1, 2]}, "temperature must be a number, got [1, 2]"),
        ({"temperature": float("nan")}, "temperature must be a finite number, got nan"),
        ({"levels": "one"}, "levels must be an integer, got 'one'"),
        ({"levels": [9]}, "levels must be integers 0-5"),  # was: an empty pool, later
        ({"max_model_len": 0}, "max_model_len must be >= 1, got 0"),
    ],
)
@pytest.mark.parametrize("command", ["build", "sample"])
def test_bad_recipes_are_one_line_errors_naming_the_field(
    body: dict, message: str, command: str, tmp_path: Path
) -> None:
    if command == "sample" and set(body) & {"no_correct_stop", "budget", "levels"}:
        pytest.skip("a build setting that sample does not read")
    recipe = _recipe(tmp_path / "r.yaml", {"engine": "scripted", "pool": "gsm8k", **body})
    res = CliRunner().invoke(cli, [command, "--config", recipe, "-o", str(tmp_path / "o")])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert message in res.output, res.output


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"num_proc": 0}, "num_proc must be >= 1, got 0"),  # was: refused only at grading
        ({"timeout_s": float("inf")}, "timeout_s must be a finite number, got inf"),
        ({"timeout_s": 0}, "timeout_s must be > 0 and finite, got 0"),
        ({"engine": "tgi"}, "unknown engine 'tgi'"),
    ],
)
def test_bad_eval_settings_fail_before_any_work(section: dict, message: str) -> None:
    from dart_hf import evaluation as ev

    with pytest.raises(DartError, match=message):
        ev.resolve_config({"eval": section}, {})


def test_a_key_read_by_any_command_is_valid() -> None:
    from dart_hf import evaluation as ev
    from dart_hf.recipe import load_recipe

    config, _ = ev.resolve_config(load_recipe("paper"), {})  # paper has k_u, max_trials, ...
    assert config.max_tokens == 2048


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout-s", "nan"], "timeout_s (--timeout-s) must be a finite number, got nan"),
        (["--timeout-s", "inf"], "timeout_s (--timeout-s) must be a finite number, got inf"),
        (["--timeout-s", "0"], "timeout_s must be > 0"),
    ],
)
def test_bad_grade_flags(args: list[str], message: str, tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"response": "\\boxed{5}", "answer": "5"}) + "\n")
    res = CliRunner().invoke(cli, ["grade", str(data), "-o", str(tmp_path / "o.jsonl"), *args])
    assert res.exit_code == 1 and message in res.output and "Traceback" not in res.output


def test_grade_workers_are_capped_at_rows_and_cores(tmp_path: Path) -> None:
    from dart_hf.grading import available_cores

    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"response": f"\\boxed{{{i}}}", "answer": "1"}) + "\n"
                            for i in range(3)))  # fmt: skip
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli, ["grade", str(data), "-o", str(tmp_path / "o.jsonl"),
                                   "--num-proc", "1000"])  # fmt: skip
    assert res.exit_code == 0, res.output
    n = min(3, available_cores())
    assert f"--num-proc 1000 capped at {n} (3 rows, {available_cores()} cores)" in res.output
    assert time.perf_counter() - t0 < 60


@pytest.mark.parametrize("command", ["build", "sample", "eval"])
def test_scripted_engine_refuses_a_model_path(command: str, tmp_path: Path) -> None:
    """Issue 14.11: `--engine scripted --model /nonexistent` wrote that model into the cards."""
    args = [command, "--engine", "scripted", "--model", "/nonexistent", "-o", str(tmp_path)]
    if command == "sample":
        args += ["--pool", "gsm8k"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "the scripted engine is a simulation and loads no model" in res.output


# ------------------------------------------------------------------ data (item 9)


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


ROW = {"id": "p/1", "source": "pool", "query": "What is 1+1?", "answer": "2"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([ROW, {**ROW, "id": "p/2", "level": "Level ?"}],
         "row 2: level must be an integer 0-5 or null, got 'Level ?'"),  # was ArrowInvalid
        ([ROW, {**ROW, "id": "p/2", "level": 9}], "row 2: level must be an integer 0-5"),
        ([ROW, {**ROW, "id": "p/2", "multi_answer": "yes"}],
         "row 2: multi_answer must be true or false, got 'yes'"),
        ([{**ROW, "query": "   "}], "row 1: the query is empty"),  # became training pairs
        ([{"question": "", "answer": "x #### 1"}], "row 1: the query is empty"),
    ],
)  # fmt: skip
def test_bad_pool_rows_name_the_row_and_field(rows: list, message: str, tmp_path: Path) -> None:
    pool = _jsonl(tmp_path / "p.jsonl", rows)
    res = CliRunner().invoke(cli, ["sample", "--engine", "scripted", "--pool", pool,
                                   "-o", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert message in res.output and "p.jsonl" in res.output, res.output


def test_level_written_as_text_is_read() -> None:
    from dart_hf.normalise import _typed

    assert _typed("level", "Level 3", "w") == 3 and _typed("level", "4", "w") == 4


def test_lone_surrogate_names_the_line(tmp_path: Path) -> None:
    pool = tmp_path / "p.jsonl"
    pool.write_text(json.dumps(ROW) + "\n" + '{"id": "p/2", "source": "pool", "query": '
                    '"bad \\ud800 text", "answer": "1"}\n')  # fmt: skip
    res = CliRunner().invoke(cli, ["sample", "--engine", "scripted", "--pool", str(pool),
                                   "-o", str(tmp_path / "o")])  # fmt: skip
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{pool} line 2: text that is not valid Unicode" in res.output, res.output


def test_lock_on_a_file_system_without_locks_warns_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import fcntl

    def no_locks(*_a: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "lockf", no_locks)
    with outputs.folder_lock(tmp_path / "bucket", "build"):
        pass
    assert "cannot lock files" in caplog.text


def test_lock_on_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    with pytest.raises(DartError, match="permission denied"), outputs.folder_lock(ro, "x"):
        pass
