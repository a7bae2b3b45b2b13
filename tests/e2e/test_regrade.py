"""`dart-hf regrade`: a build (or an evaluation) graded again with the current grader.

"A grader change" is simulated honestly: the folder is made with an older, naive grader (the
last box's text must equal the gold's text) standing in for the worker pool, under an older
`GRADE_VERSION`, so its `build.json` records that grader; the regrade then runs the current
grader through the production path. The expected verdicts are computed here independently,
by calling `answers.judge` on every raw sample.

The scripted engine answers from a table whose integer golds are written, for every other
query, as an equal fraction (`\\frac{84}{2}` for 42): the naive grader calls those hits wrong
and the current one right; a high glitch rate gives hedged hits (two different boxes), which
the naive grader calls right and the current one wrong. So verdicts flip both ways.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import test_build as build_tests
from click.testing import CliRunner
from datasets import Dataset, load_dataset

from dart_hf import arrow_io, dars, outputs
from dart_hf.build import regrade
from dart_hf.build import run as build
from dart_hf.cli import cli
from dart_hf.errors import DartError
from dart_hf.folders import BuildFolder, EvalFolder, SamplingFolder
from dart_hf.grading import anchors, grade, verdict
from dart_hf.grading.verdict import Verdict
from dart_hf.sampling import shards as sampling

BASE = build_tests.BASE  # the scripted build of test_build
OLD_VERSION = "0-naive"


def naive_judge(response: str, gold: str | None, **_: object) -> Verdict:
    """An older grader: the last box's text must equal the gold's text."""
    pred = anchors.last_boxed(response)
    if pred is None:
        return Verdict(None, False, "no_answer", "text_match")
    return Verdict(pred, pred.strip() == str(gold).strip(), "ok", "text_match")


class _InProcessPool:
    """Stands in for the grading pool: the naive grader, in this process."""

    def map(self, items: list[dict], timeout_s: float) -> list[Verdict]:
        return [naive_judge(**item) for item in items]


def _old_grader(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(grade, "get_pool", lambda num_proc: _InProcessPool())
    mp.setattr(grade, "GRADE_VERSION", OLD_VERSION)


def _table(path: Path, settings: dict) -> Path:
    """The scripted engine's table: every other integer gold written as an equal fraction."""
    s = build.BuildSettings.from_dict(build.resolve_settings({}, settings))
    queries = build.load_queries(s.build)
    rows, k = [], 0
    for r in queries.select_columns(["query", "answer", "solution", "level"]).to_list():
        if re.fullmatch(r"-?\d+", r["answer"].strip()):
            k += 1
            if k % 2:
                r["answer"] = f"\\frac{{{2 * int(r['answer'])}}}{{2}}"
        rows.append(r)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> dict:
    table = _table(tmp_path_factory.mktemp("table") / "table.jsonl", BASE)
    return {**BASE, "engine_options": {"table": str(table), "glitch_rate": 0.6}}


@pytest.fixture(scope="module")
def old_build(tmp_path_factory: pytest.TempPathFactory, settings: dict) -> Path:
    """A build graded by the naive grader (its record names that grader)."""
    out = tmp_path_factory.mktemp("old") / "run"
    with pytest.MonkeyPatch.context() as mp:
        _old_grader(mp)
        build.run_build(build.resolve_settings({}, settings), out)
    assert json.loads(BuildFolder(out).record.read_text())["grader"]["grade_version"] == OLD_VERSION
    return out


@pytest.fixture(scope="module")
def regraded(old_build: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("regraded") / "run"
    shutil.copytree(old_build, out)
    return out, regrade.regrade(out).report


def _rounds(out: Path) -> Iterator[tuple[int, Path]]:
    for folder in sorted((out / "rounds").glob("round-*")):
        yield int(folder.name.split("-")[1]), folder


def _raw(folder: Path) -> Dataset:
    manifest = json.loads(SamplingFolder(folder).manifest.read_text())
    return sampling.load_samples(folder, math.ceil(manifest["queries"] / manifest["shard_size"]))


def _judged(row: dict) -> bool:
    """The current grader's verdict on one raw sample, called directly."""
    v = verdict.judge(
        row["response"],
        row["answer"],
        answers=row["answers"],
        answer_type=row["answer_type"],
        multi_answer=row["multi_answer"],
        unit=row["unit"],
        tolerance=row["tolerance"],
        benchmark=row["source"],
    )
    return bool(v.correct)


def _verdicts(out: Path) -> dict[tuple, bool]:
    got = {}
    for _, folder in _rounds(out):
        t = Dataset.from_file(str(folder / "graded.arrow")).select_columns(
            ["id", "round", "sample_idx", "correct"]
        )
        for row in t.to_list():
            got[(row["id"], row["round"], row["sample_idx"])] = bool(row["correct"])
    return got


def _release_rows(out: Path) -> dict[str, list[dict]]:
    got = {}
    for folder in sorted((out / "releases").iterdir()):
        if folder.name == build.POOL_RELEASE:
            for config in ("samples", "queries"):
                got[f"pool/{config}"] = load_dataset(str(folder), config, split="train").to_list()
        else:
            got[folder.name] = load_dataset(str(folder), split="train").to_list()
    return got


def test_regrade_flips_exactly_the_verdicts_that_change(old_build: Path, regraded: tuple[Path, dict]) -> None:
    out, report = regraded
    before = _verdicts(old_build)
    expected = {}
    for _, folder in _rounds(out):
        for row in _raw(folder).to_list():
            expected[(row["id"], row["round"], row["sample_idx"])] = _judged(row)
    assert _verdicts(out) == expected  # every sample carries the current grader's verdict
    flips = {k for k in expected if expected[k] != before[k]}
    v = report["verdicts"]
    got = {(f["id"], f["round"], f["sample_idx"]) for f in v["flipped"]}
    assert got == flips and len(v["flipped"]) == len(flips)
    assert v["wrong_to_correct"] == sum(expected[k] for k in flips) > 0
    assert v["correct_to_wrong"] == sum(not expected[k] for k in flips) > 0
    assert v["samples"] == len(expected)
    assert "ok -> hedge" in v["status_changes"]
    saved = json.loads(BuildFolder(out).report.read_text())
    assert saved["verdicts"]["flipped"] == v["flipped"]
    record = json.loads(BuildFolder(out).record.read_text())
    assert record["grader"] == grade.grader_info()
    assert not BuildFolder(out).regrade_work.path.exists()


def test_releases_equal_assembling_the_raw_samples_with_the_new_grader(
    regraded: tuple[Path, dict], settings: dict, tmp_path: Path
) -> None:
    out, report = regraded
    s = build.BuildSettings.from_dict(build.resolve_settings({}, settings))
    queries = build.load_queries(s.build)
    ids = list(queries["id"])
    # the raw samples graded here, and the targets derived from them by the paper's formulas
    rows = [r for _, folder in _rounds(out) for r in _raw(folder).to_list()]
    correct = [_judged(r) for r in rows]
    pool = Dataset.from_list(rows).add_column("correct", correct)
    for col in ("pred", "grade_status", "verdict_source"):  # the filters read `pred`
        pool = pool.add_column(col, build.graded_pool(BuildFolder(out))[col])
    graded = build.graded_pool(BuildFolder(out)).features  # a graded round's types and order
    pool = pool.select_columns(list(graded)).cast(graded)
    state = dars.new_state(ids, queries["level"], queries["source"])
    pos = {q: i for i, q in enumerate(ids)}
    for r, ok in zip(rows, correct, strict=True):
        state["samples"][pos[r["id"]]] += 1
        state["corrects"][pos[r["id"]]] += int(ok)
    n0 = np.zeros(len(ids))
    c0 = np.zeros(len(ids))
    for r, ok in zip(rows, correct, strict=True):
        if r["round"] == 0:
            n0[pos[r["id"]]] += 1
            c0[pos[r["id"]]] += int(ok)
    fr = 1 - c0 / n0
    state["fail_rate"] = fr
    state["fail_rate_samples"] = n0.astype(np.int64)
    state["target_uniform"] = np.full(len(ids), BASE["k_u"])
    state["target_prop2diff"] = np.asarray([max(1, math.ceil(BASE["k_p"] * f - 1e-9)) for f in fr])
    state["target_vrt"] = np.full(len(ids), BASE["vrt_n"])
    final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    for col in ("samples", "corrects", "fail_rate", "target_uniform", "target_prop2diff"):
        assert np.allclose(final[col], state[col]), col
    state["stop_reason"] = final["stop_reason"]  # the replay's; releases do not depend on it
    expected, _ = build.assemble_releases(
        BuildFolder(out), queries, state, s, into=tmp_path / "rel", pool=pool
    )
    for name, folder in expected.items():
        if name == "pool":
            continue
        want = load_dataset(str(folder), split="train").to_list()
        got = load_dataset(str(out / "releases" / folder.name), split="train").to_list()
        assert got == want, name
        diff = report["releases"][folder.name]
        assert diff["rows_after"] == len(got)
    info = load_dataset(str(out / "releases" / build.POOL_RELEASE), "queries", split="train")
    assert info["corrects"] == state["corrects"].tolist()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["grader"] == grade.grader_info()
    assert stats["totals"]["correct_samples"] == sum(correct)
    card = (out / "releases" / "dart-math-hard" / "README.md").read_text()
    assert f"{grade.GRADE_VERSION}" in card


def test_queries_whose_target_or_stop_changed_are_reported(
    old_build: Path, regraded: tuple[Path, dict]
) -> None:
    out, report = regraded
    last = BuildFolder(old_build).last_round()
    old = dars.load_state(old_build / "state" / f"round-{last:03d}.parquet")
    new = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    changed = {
        q
        for i, q in enumerate(new["id"])
        if old["stop_reason"][i] != new["stop_reason"][i]
        or old["target_prop2diff"][i] != new["target_prop2diff"][i]
    }
    q = report["queries"]
    assert {e["id"] for e in q["changed"]} == changed and changed
    assert q["target_changed"].get("prop2diff", 0) == sum(
        old["target_prop2diff"][i] != new["target_prop2diff"][i] for i in range(len(new["id"]))
    )
    text = regrade.format_report(report)
    assert "wrong -> correct" in text and "dart-math-hard" in text


def test_build_continues_after_a_regrade(regraded: tuple[Path, dict], tmp_path: Path, settings: dict) -> None:
    src, report = regraded
    need = report["more_samples"]
    assert need is not None and need["queries"] > 0 and need["next_round"] > 0
    out = tmp_path / "run"
    shutil.copytree(src, out)
    last = len(list((out / "rounds").glob("round-*"))) - 1
    command = need["command"].replace(str(src), str(out)).split()
    assert command[:2] == ["dart-hf", "build"]
    result = CliRunner().invoke(cli, [*command[1:], "-q"])  # the command the report names
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "rounds" / f"round-{last + 1:03d}" / "meta.json").read_text())
    assert meta["raw_samples"] == need["next_round"]
    final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
    assert final["done"].all()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["raw_samples"] == int(final["samples"].sum())


@pytest.mark.parametrize("variant", ["phase", "fail_rate_from", "budget"])
def test_unchanged_grader_reproduces_the_build(
    variant: str, tmp_path: Path, settings: dict, old_build: Path
) -> None:
    """The replay with the build's own verdicts gives its states, round by round."""
    extra: dict = {}
    if variant == "fail_rate_from":  # fail rates loaded, not measured: round 0 is scheduled
        info = old_build / "releases" / build.POOL_RELEASE / "queries"
        extra = {"fail_rate_from": str(next(info.glob("*.parquet")))}
    elif variant == "budget":  # the build ends with the loop's closing step (`budget`)
        extra = {"budget": 50}
    out = tmp_path / "run"
    build.run_build(build.resolve_settings({}, {**settings, **extra}), out)
    if variant == "budget":
        final = dars.load_state(BuildFolder(out).state(BuildFolder(out).last_round()))
        assert "budget" in set(final["stop_reason"])
    states = {p.name: pq.read_table(p) for p in sorted((out / "state").glob("*.parquet"))}
    releases = _release_rows(out)
    report = regrade.regrade(out).report
    v = report["verdicts"]
    assert v["wrong_to_correct"] == v["correct_to_wrong"] == 0 and not v["flipped"]
    assert report["more_samples"] is None and report["queries"]["changed"] == []
    after = {p.name: pq.read_table(p) for p in sorted((out / "state").glob("*.parquet"))}
    assert list(after) == list(states)
    for name, table in states.items():
        assert after[name].equals(table), name
    assert _release_rows(out) == releases
    assert all(r["added"] == r["removed"] == 0 for r in report["releases"].values())


def _snapshot(out: Path) -> dict:
    report = json.loads(BuildFolder(out).report.read_text())
    report.pop("wall_time_s")
    if report["more_samples"]:
        report["more_samples"].pop("command")  # names the folder
    return {
        "verdicts": _verdicts(out),
        "states": {p.name: pq.read_table(p).to_pylist() for p in (out / "state").glob("*")},
        "releases": _release_rows(out),
        "stats": json.loads((out / "stats.json").read_text()),
        "record": json.loads(BuildFolder(out).record.read_text()),
        "report": {**report, "folder": None},
    }


@pytest.mark.parametrize("where", ["grading", "commit"])
def test_killed_regrade_resumes(
    where: str,
    old_build: Path,
    regraded: tuple[Path, dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict,
) -> None:
    out = tmp_path / "run"
    shutil.copytree(old_build, out)
    real_grade, real_replace = regrade._grade_round, outputs.replace_folder
    calls = {"replace": 0}

    def failing_grade(out_: Path, r: int, *args: object) -> Path:
        if r == 1:
            raise RuntimeError("injected failure")
        return real_grade(out_, r, *args)  # type: ignore[arg-type]

    def failing_replace(staged: Path, final: Path) -> None:
        calls["replace"] += 1
        if calls["replace"] == 2:
            raise RuntimeError("injected failure")
        real_replace(staged, final)

    if where == "grading":
        monkeypatch.setattr(regrade, "_grade_round", failing_grade)
    else:
        monkeypatch.setattr(outputs, "replace_folder", failing_replace)
    with pytest.raises(RuntimeError, match="injected"):
        regrade.regrade(out)
    monkeypatch.undo()
    assert BuildFolder(out).regrade_work.path.is_dir()
    with pytest.raises(DartError, match="regrade was interrupted"):
        build.run_build(build.resolve_settings({}, settings), out)
    written = []
    real_write = arrow_io.write_arrow
    monkeypatch.setattr(
        arrow_io,
        "write_arrow",
        lambda ds, path, *a: (written.append(path.name), real_write(ds, path)),
    )
    regrade.regrade(out)
    if where == "grading":
        assert "round-000.arrow" not in written and "round-001.arrow" in written
    else:
        assert written == []  # everything was staged before the kill: only moved in now
    assert _snapshot(out) == _snapshot(regraded[0])


def test_incomplete_raw_samples_are_refused(old_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(old_build, out)
    shard = out / "rounds" / "round-001" / "shard-00001.parquet"
    shard.unlink()
    # issue 27.11: round 1 finished, so "rerun build" (which has nothing to do) was a loop
    with pytest.raises(DartError, match=r"round 1 finished, so no build samples it again"):
        regrade.regrade(out)
    result = CliRunner().invoke(cli, ["regrade", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{shard} is missing" in lines[0]
    assert "restore the file, or build into a new --out" in lines[0]
    assert "rerun `dart-hf build" not in lines[0]
    # a round the build has not finished (no state after it) is the build's to finish
    for state in sorted((out / "state").glob("round-*.parquet"))[1:]:
        state.unlink()
    with pytest.raises(DartError, match=r"round 1 did not finish \(\d+ of \d+ shards\)"):
        regrade.regrade(out)
    assert not BuildFolder(out).regrade_work.path.exists()
    other = tmp_path / "empty"
    other.mkdir()
    result = CliRunner().invoke(cli, ["regrade", str(other)])
    assert result.exit_code == 1 and "neither a build" in result.output


def test_a_build_with_another_grader_names_regrade(old_build: Path, settings: dict) -> None:
    with pytest.raises(DartError, match="dart-hf regrade"):
        build.run_build(build.resolve_settings({}, settings), old_build)


# ------------------------------------------------------------------ evaluation folders


def _eval_args(table: Path, out: Path) -> list[str]:
    return [
        "eval",
        "--engine",
        "scripted",
        "--engine-option",
        f"table={table}",
        "--model",
        "scripted-eval",
        "--benchmarks",
        "gsm8k,math500",
        "--limit",
        "4",
        "--template",
        "alpaca",
        "--max-tokens",
        "4096",
        "-o",
        str(out),
        "-q",
    ]


def test_eval_folder_regrade_is_eval_regrade(tmp_path: Path) -> None:
    from dart_hf.sources import load_benchmark

    rows, k = [], 0
    for bench in ("gsm8k", "math500"):
        for r in load_benchmark(bench, limit=4).to_list():
            answer = r["answer"]
            if re.fullmatch(r"-?\d+", answer.strip()):
                k += 1
                answer = f"\\frac{{{2 * int(answer)}}}{{2}}" if k % 2 else answer
            rows.append({"query": r["query"], "answer": answer, "solution": r["solution"], "level": 3})
    table = tmp_path / "table.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    first = tmp_path / "a"
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        _old_grader(mp)
        result = runner.invoke(cli, _eval_args(table, first))
        assert result.exit_code == 0, result.output
    second = tmp_path / "b"
    shutil.copytree(first, second)
    before = regrade.prediction_verdicts(EvalFolder(first)).to_pylist()
    result = runner.invoke(cli, [*_eval_args(table, first), "--regrade"])
    assert result.exit_code == 0, result.output
    from dart_hf import engines

    def no_engine(spec: object) -> None:
        raise AssertionError("a regrade started an engine")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engines, "get_engine", no_engine)
        mp.setattr(sampling, "get_engine", no_engine)
        result = runner.invoke(cli, ["regrade", str(second)])
    assert result.exit_code == 0, result.output
    assert "wrong -> correct" in result.output and "regrade.json" in result.output
    a = json.loads((first / "results.json").read_text())
    b = json.loads((second / "results.json").read_text())
    for r in (a, b):
        r.pop("wall_time_s")
    assert a == b and a["grader"] == grade.grader_info()
    for bench in ("gsm8k", "math500"):
        pa_ = load_dataset(str(first / "predictions"), bench, split="test").to_list()
        pb_ = load_dataset(str(second / "predictions"), bench, split="test").to_list()
        assert pa_ == pb_
    after = regrade.prediction_verdicts(EvalFolder(second)).to_pylist()
    flips = {
        (x["benchmark"], x["id"], x["seed"], x["sample_idx"])
        for x, y in zip(before, after, strict=True)
        if bool(x["correct"]) != bool(y["correct"])
    }
    report = json.loads(EvalFolder(second).report.read_text())
    got = {(f["benchmark"], f["id"], f["seed"], f["sample_idx"]) for f in report["verdicts"]["flipped"]}
    assert got == flips and report["verdicts"]["wrong_to_correct"] > 0
    assert not EvalFolder(second).regrade_work.path.exists()
