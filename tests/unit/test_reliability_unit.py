"""Reliability (issue 14) and fingerprints of existing outputs (issue 12, item 4), without a
whole run: the guard itself, misspelled or mistyped recipe keys, bad flag values and pool
rows, a full disk while sampling, locks on odd file systems (the failures of whole commands:
tests/e2e/test_reliability.py)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import enospc as _enospc
from helpers import write_recipe as _recipe

from dart_hf import outputs
from dart_hf.cli import cli
from dart_hf.errors import DartError

# ------------------------------------------------------------------ fingerprints (A)


def test_guard_names_each_difference_and_replaces_an_unfinished_record(tmp_path: Path) -> None:
    record = tmp_path / "rec.json"
    fp = {"settings": {"a": 1, "b": "x"}, "grader": {"version": "1"}, "data": {"gold_hash": "h"}}
    assert outputs.check_fingerprint(record, fp, what="w", has_work=True) == "created"
    assert outputs.check_fingerprint(record, fp, what="w", has_work=True) == "same"
    other = {**fp, "settings": {"a": 2, "b": "x"}, "grader": {"version": "2"}}
    with pytest.raises(DartError) as err:
        outputs.check_fingerprint(record, other, what="w", has_work=True)
    assert 'grader.version "1" -> "2" (the grader changed since this folder was made); a 1 -> 2.' in str(
        err.value
    )
    assert outputs.check_fingerprint(record, other, what="w", has_work=False) == "replaced"
    regraded = {**other, "grader": {"version": "3"}}
    assert (
        outputs.check_fingerprint(record, regraded, what="w", has_work=True, allow=("grader",)) == "updated"
    )


def test_failed_first_sample_does_not_block_the_corrected_command(tmp_path: Path) -> None:
    """Issue 14.5: the engine fails before any shard; the corrected command (other engine
    options) runs; once shards exist a real difference is refused and named."""
    from dart_hf.sources import load_pool

    out = tmp_path / "o"
    base = [
        "sample",
        "--engine",
        "scripted",
        "--pool",
        "gsm8k",
        "--limit",
        "2",
        "--template",
        "deepseekmath",
        "--max-tokens",
        "2000",
        "-o",
        str(out),
    ]
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


# ------------------------------------------------------------------ lock (B)


# ------------------------------------------------------------------ releases (C)


# ------------------------------------------------------------------ disk full (D)


def test_disk_full_in_sample_names_the_shard_and_leaves_no_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import Dataset

    from dart_hf.sources import load_pool

    table = tmp_path / "t.parquet"
    load_pool("gsm8k", limit=4).to_parquet(str(table))
    recipe = _recipe(tmp_path / "r.yaml", {"engine_options": {"table": str(table)}})
    out = tmp_path / "o"
    args = [
        "sample",
        "--engine",
        "scripted",
        "--pool",
        "gsm8k",
        "--limit",
        "4",
        "--config",
        recipe,
        "--template",
        "deepseekmath",
        "--max-tokens",
        "2000",
        "--shard-size",
        "2",
        "-o",
        str(out),
    ]
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
    assert lines == [
        f"Error: disk full while writing {out / 'shard-00001.parquet'}: free some "
        "space (or use another output folder) and rerun the same command; "
        "finished work is kept"
    ]
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    assert (out / "shard-00000.parquet").is_file()  # finished work kept
    monkeypatch.setattr(Dataset, "to_parquet", real)
    assert CliRunner().invoke(cli, args).exit_code == 0  # the same command resumes


# ------------------------------------------------------------------ recipes and flags (E, F)


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
    from dart_hf.evaluation import run as ev

    with pytest.raises(DartError, match=message):
        ev.resolve_config({"eval": section}, {})


def test_a_key_read_by_any_command_is_valid() -> None:
    from dart_hf.evaluation import run as ev
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
        (
            [ROW, {**ROW, "id": "p/2", "level": "Level ?"}],
            "row 2: level must be an integer 0-5 or null, got 'Level ?'",
        ),  # was ArrowInvalid
        ([ROW, {**ROW, "id": "p/2", "level": 9}], "row 2: level must be an integer 0-5"),
        (
            [ROW, {**ROW, "id": "p/2", "multi_answer": "yes"}],
            "row 2: multi_answer must be true or false, got 'yes'",
        ),
        ([{**ROW, "query": "   "}], "row 1: the query is empty"),  # became training pairs
        ([{"question": "", "answer": "x #### 1"}], "row 1: the query is empty"),
    ],
)
def test_bad_pool_rows_name_the_row_and_field(rows: list, message: str, tmp_path: Path) -> None:
    pool = _jsonl(tmp_path / "p.jsonl", rows)
    res = CliRunner().invoke(
        cli, ["sample", "--engine", "scripted", "--pool", pool, "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert message in res.output and "p.jsonl" in res.output, res.output


def test_level_written_as_text_is_read() -> None:
    from dart_hf.normalise import _typed

    assert _typed("level", "Level 3", "w") == 3 and _typed("level", "4", "w") == 4


def test_lone_surrogate_names_the_line(tmp_path: Path) -> None:
    pool = tmp_path / "p.jsonl"
    pool.write_text(
        json.dumps(ROW) + "\n" + '{"id": "p/2", "source": "pool", "query": '
        '"bad \\ud800 text", "answer": "1"}\n'
    )
    res = CliRunner().invoke(
        cli, ["sample", "--engine", "scripted", "--pool", str(pool), "-o", str(tmp_path / "o")]
    )
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
