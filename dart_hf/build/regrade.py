"""`dart-hf regrade`: grade the saved samples of a build or an evaluation again, drawing none.

A build folder: every round's raw samples (`rounds/round-XXX/shard-*.parquet`) are graded
with the current grader, and the per-query state is replayed round by round from the new
verdicts with the round loop's own functions (`dars.update_counts`, `freeze_difficulty`,
`apply_stop_rules`, `schedule`): fail rates of the difficulty phase and the targets follow the
new verdicts (unless the build loaded its fail rates, `fail_rate_from`), and so do the stop
reasons. A query sampled in a round was open when that round was scheduled, so it is opened
again before that round's samples are added; with the build's own verdicts this changes
nothing, so a regrade with an unchanged grader reproduces the build's states exactly. The
releases, `stats.json` and the cards are then assembled again from the same raw samples (the
current filters and decontamination). Where the new targets need samples the build does not
have, the last state leaves those queries open: `dart-hf build` on the same folder (its
`build.json` now names the current grader) samples them from the next round on.

Everything new is staged in `DIR/.regrade/` (one graded file per round, the states, releases,
statistics, record), and `changes.json` there is written once all of it is; only then are the
files moved in, `build.json` last. A killed regrade reruns from what it finished (graded
rounds are kept; a half-done move is completed), and a build refuses to run while `.regrade/`
exists. A folder whose raw samples are incomplete (a round that did not finish) is refused.

An evaluation folder: `evaluation.run_eval(..., regrade=True)` with the settings its
`results.json` records, which is what `dart-hf eval --regrade` does.

Both write `DIR/regrade.json`: the verdicts flipped in each direction (and every flipped
sample), and for a build the rows added and removed per release and the queries whose
target or stop reason changed; `format_report` renders it for the terminal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from datasets import Dataset, concatenate_datasets

from dart_hf import arrow_io, dars, outputs
from dart_hf.build import rounds, stats
from dart_hf.build import run as build
from dart_hf.config import DarsConfig, build_dataclass
from dart_hf.engines import EngineSpec
from dart_hf.errors import DartError
from dart_hf.evaluation import run as evaluation
from dart_hf.evaluation.run import EvalConfig
from dart_hf.executors import ExecutorSpec, make_executor
from dart_hf.folders import BuildFolder, EvalFolder, RegradeWork
from dart_hf.grading.grade import grader_info
from dart_hf.sampling import shards as sampling

logger = logging.getLogger(__name__)

VERDICT_COLUMNS = ("correct", "grade_status", "pred")


@dataclasses.dataclass
class RegradeResult:
    """What a regrade did: the folder, its kind (`build` or `eval`), the report and its file."""

    out: Path
    kind: str
    report: dict[str, Any]
    report_file: Path
    written: bool = True
    """False when nothing changed and `report_file` keeps the last regrade's report."""


def regrade(out: str | Path, *, num_proc: int | None = None, progress: bool = False) -> RegradeResult:
    """Regrade a build or an evaluation folder (see the module docstring).

    Args:
        out: A folder written by `dart-hf build` or `dart-hf eval`.
        num_proc: Grading worker processes (default: the folder's own setting).
        progress: Show progress bars.

    Raises:
        DartError: Not such a folder, incomplete raw samples, settings, queries or gold
            answers that differ from the folder's record, a folder in use, or a full disk.
    """
    out = Path(out)
    if not out.is_dir():
        raise DartError(f"{out}: no such folder")
    if BuildFolder(out).is_build():
        return regrade_build(BuildFolder(out), num_proc=num_proc, progress=progress)
    if EvalFolder(out).is_eval():
        return regrade_eval(EvalFolder(out), num_proc=num_proc, progress=progress)
    raise DartError(
        f"{out} holds neither a build (build.json, rounds/) nor an evaluation (results.json, samples/)"
    )


# --------------------------------------------------------------------------- build folders


def build_settings(folder: BuildFolder, num_proc: int | None = None) -> tuple[build.BuildSettings, dict]:
    """The settings a build folder records (`recipe.yaml`), checked; and their flat form."""
    out, path = folder.root, folder.recipe
    if not folder.record.is_file():
        raise DartError(
            f"{out}: no {folder.record.name} (a build from an older dart-hf, or none): nothing "
            "records which grader and queries made it, so it cannot be regraded"
        )
    if not path.is_file():
        raise DartError(f"{path} is missing: the build's settings are unknown")
    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DartError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(settings, dict):
        raise DartError(f"{path}: not a mapping of settings")
    if num_proc is not None:
        settings["num_proc"] = num_proc
    s = build.BuildSettings.from_dict(settings, where=str(path))
    gold = getattr(s.build, "gold", "answer")
    if gold != "answer":
        # its golds are votes of the vote phase, and its fail rates come from a later round:
        # `replay_states` replays the difficulty phase of a build with given golds only
        raise DartError(
            f"{out} was built with gold: {gold}; regrading such a build is not supported "
            "yet (its golds are the samples' own votes)"
        )
    return s, s.to_dict()


def sampled_rounds(folder: BuildFolder) -> list[int]:
    """Shard counts of the build's rounds, in round order, once every raw sample is on disk.

    Raises:
        DartError: No round, a gap in the rounds, or a round that did not finish (a shard
            missing, no graded rows, or fewer rows than the round recorded), named.
    """
    out = folder.root
    rounds = folder.round_folders()
    if not rounds:
        raise DartError(f"{out}: no sampled rounds (rounds/ is empty): nothing to regrade")
    numbers = [f.number for f in rounds]
    gaps = sorted(set(range(numbers[-1] + 1)) - set(numbers))
    if gaps:
        raise DartError(f"{folder.rounds}: round {gaps[0]:03d} is missing: the raw samples are incomplete")
    finish = f"rerun `dart-hf build --config {folder.recipe} -o {out}` to finish it, then regrade"
    shards = []
    for rf in rounds:
        r = rf.number
        count = rf.recorded_count()
        done = folder.state(r).is_file()  # the build has finished with this round
        redo = f"delete it, {finish}"  # the build samples an unfinished round's shard again
        lost = "restore it, or build into a new --out" if done else redo
        if count is None and rf.manifest.exists():
            outputs.read_json(rf.manifest, lost, keys=("queries", "shard_size"))
            raise DartError(f"{rf.manifest} is damaged (unreadable shard count): {lost}")
        if count is None:
            raise DartError(f"{rf.path}: no {rf.manifest.name}: round {r} was never sampled; {finish}")
        missing = rf.missing(count)
        if missing and done:
            raise DartError(
                f"{rf.shard(missing[0])} is missing"
                + (f" (and {len(missing) - 1} more shards)" if len(missing) > 1 else "")
                + f": round {r} finished, so no build samples it again and its raw samples "
                "cannot be regraded; restore the file, or build into a new --out"
            )
        if missing or not rf.finished():
            what = f"{count - len(missing)} of {count} shards" + ("" if rf.finished() else ", not graded")
            raise DartError(
                f"{rf.path}: round {r} did not finish ({what}): the raw samples are incomplete; {finish}"
            )
        rows = 0
        for k in range(count):
            with outputs.damaged(rf.shard(k), lost):
                rows += pq.read_metadata(rf.shard(k)).num_rows
        meta = outputs.read_json(rf.meta, keys=("raw_samples",))
        build.read_graded(rf.graded, f"delete it, {finish}")  # read before anything is staged
        if rows != int(meta["raw_samples"]):
            raise DartError(
                f"{rf.path}: the shards hold {rows} samples, {rf.meta.name} records "
                f"{meta['raw_samples']}: the raw samples are incomplete"
            )
        shards.append(count)
    return shards


def _stage_record(folder: BuildFolder, recipe: dict[str, Any], queries: Dataset, work: RegradeWork) -> dict:
    """Stage the updated `build.json` in `work`; refuse anything but a grader change.

    Returns the grader the build's samples were graded with.
    """
    out = folder.root
    old = json.loads(folder.record.read_text(encoding="utf-8"))
    new = json.loads(json.dumps(build.fingerprint(recipe, queries), default=str))
    diff = [
        line
        for line in outputs.fingerprint_diff(old, new)
        if not line.startswith("grader.") and not line.startswith("grader ")
    ]
    if diff:
        raise DartError(
            f"{out} cannot be regraded: {'; '.join(diff)}. A regrade keeps the build's "
            f"settings ({folder.recipe}), queries and gold answers and changes only the grader"
        )
    outputs.atomic_write(work.record, json.dumps(new, indent=1, sort_keys=True) + "\n")
    return old.get("grader") or {}


def _grade_round(
    folder: BuildFolder, r: int, n_shards: int, s: build.BuildSettings, work: RegradeWork
) -> Path:
    """Grade round r's raw shards with the current grader into `work` (kept when there)."""
    target = work.graded(r)
    if target.is_file():
        return target
    lost = "restore it, or build into a new --out"  # a finished round is not sampled again
    raw = sampling.load_samples(folder.round(r), n_shards, remedy=lost)
    logger.info("regrading round %d: %d samples", r, len(raw))
    graded = make_executor(ExecutorSpec()).grade(raw, s.grading)
    arrow_io.write_arrow(graded, target)
    return target


def _verdict_table(path: Path) -> pa.Table:
    table = build.read_graded(path).data.table
    return table.select(["id", "round", "sample_idx", *VERDICT_COLUMNS])


def compare_verdicts(old: pa.Table, new: pa.Table, keys: Iterable[str]) -> dict[str, Any]:
    """Verdicts of the same samples (same row order) before and after a regrade.

    Returns:
        `samples`, `wrong_to_correct`, `correct_to_wrong` (a null `correct`, `bad_gold`,
        counts as not correct), `status_changes` ("ok -> hedge": n) and `flipped`: one entry
        per sample whose `correct` changed (the key columns, was/now, status and pred).
    """
    keys = list(keys)
    for key in keys:
        if not old.column(key).equals(new.column(key)):
            raise DartError(f"regraded samples do not line up with the saved ones (column {key})")
    was = pc.fill_null(old.column("correct"), False)
    now = pc.fill_null(new.column("correct"), False)
    flip = pc.not_equal(was, now)
    moved = pc.not_equal(
        pc.fill_null(old.column("grade_status"), ""), pc.fill_null(new.column("grade_status"), "")
    )
    statuses = Counter(
        f"{a} -> {b}"
        for a, b in zip(
            old.filter(moved).column("grade_status").to_pylist(),
            new.filter(moved).column("grade_status").to_pylist(),
            strict=True,
        )
    )
    before, after = old.filter(flip).to_pylist(), new.filter(flip).to_pylist()
    flipped = [
        {
            **{k: a[k] for k in keys},
            "was": bool(a["correct"]),
            "now": bool(b["correct"]),
            "status": [a["grade_status"], b["grade_status"]],
            "pred": [a["pred"], b["pred"]],
        }
        for a, b in zip(before, after, strict=True)
    ]
    up = sum(1 for f in flipped if f["now"])
    return {
        "samples": old.num_rows,
        "wrong_to_correct": up,
        "correct_to_wrong": len(flipped) - up,
        "status_changes": dict(sorted(statuses.items())),
        "flipped": flipped,
    }


def _merge_verdicts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    for p in parts:
        statuses.update(p["status_changes"])
    return {
        "samples": sum(p["samples"] for p in parts),
        "wrong_to_correct": sum(p["wrong_to_correct"] for p in parts),
        "correct_to_wrong": sum(p["correct_to_wrong"] for p in parts),
        "status_changes": dict(sorted(statuses.items())),
        "flipped": [f for p in parts for f in p["flipped"]],
    }


class SavedRounds:
    """A build's saved rounds, graded again, as a `rounds.RoundSource`: round r gives its
    saved samples whatever the schedule asks (the build drew them); past the last saved
    round there is nothing (None)."""

    def __init__(self, outcomes: list[rounds.Outcome]) -> None:
        self.outcomes = outcomes

    def run(self, r: int, requests: np.ndarray, state: dars.State) -> rounds.Outcome | None:
        """The saved round r (None past the last one)."""
        del requests, state
        return self.outcomes[r] if r < len(self.outcomes) else None


def replay_states(
    ids: list[str],
    levels: list[int | None],
    sources: list[str],
    saved: list[rounds.Outcome],
    config: DarsConfig,
) -> Iterator[tuple[int, dars.State]]:
    """The states the build's rounds reach on these verdicts, one per round (`rounds.run`).

    Args:
        ids, levels, sources: The query pool, in state order.
        saved: Per saved round in order: what it added per query (the new verdicts).
        config: The build's DARS settings.

    Yields:
        (round, state after it); after the last saved round, if queries are still open and
        the scheduler has nothing left to give them, one more: the closing state the build
        saves. Where the schedule asks for more, the last state leaves them open.
    """
    state = rounds.start(ids, levels, sources, config)
    source = SavedRounds(saved)
    for r, step in rounds.run(state, 0, config, rounds.phases(config), source, len(saved) - 1):
        if step.stalled is None:
            yield r, step.state


def more_samples(state: dars.State, config: DarsConfig) -> dict[str, Any] | None:
    """What the open queries of a state still need: None when every query is finished.

    Returns:
        `queries` open, `next_round` (the raw samples the scheduler asks for next) and
        `projected` (what they would take in all at the current price, `projected_spend`).
    """
    if state["done"].all():
        return None
    left = dars.budget_left(state, config)
    n = dars.schedule(state, config, left)
    price = dars.budget_price(state, config, left)
    return {
        "queries": int((~state["done"]).sum()),
        "next_round": int(n.sum()),
        "projected": int(dars.projected_spend(state, config, price).sum()),
    }


def _value(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and np.isnan(x):
        return None
    return x


def compare_states(old: dars.State | None, new: dars.State, strategies: Iterable[str]) -> dict[str, Any]:
    """Queries whose target (any strategy) or stop reason differs between two final states.

    An open query's stop reason is None (shown as `open`).
    """
    strategies = list(strategies)
    if old is None or list(old["id"]) != list(new["id"]):
        return {
            "compared": False,
            "target_changed": {},
            "stop_reason_changed": 0,
            "stop_reasons": {},
            "changed": [],
        }
    columns = [f"target_{name}" for name in strategies]
    changed = []
    stops: Counter[str] = Counter()
    targets: Counter[str] = Counter()
    for i, qid in enumerate(new["id"]):
        entry: dict[str, Any] = {}
        for col in [*columns, "stop_reason"]:
            a = _value(old[col][i]) if col in old else None
            b = _value(new[col][i])
            if a != b:
                entry[col] = [a, b]
        if not entry:
            continue
        if "stop_reason" in entry:
            stops[" -> ".join(x or "open" for x in entry["stop_reason"])] += 1
        targets.update(c.removeprefix("target_") for c in entry if c.startswith("target_"))
        changed.append(
            {
                "id": qid,
                "level": _value(new["level"][i]),
                "corrects": [_value(old["corrects"][i]), _value(new["corrects"][i])],
                "fail_rate": [_value(old["fail_rate"][i]), _value(new["fail_rate"][i])],
                **entry,
            }
        )
    return {
        "compared": True,
        "target_changed": {name: targets[name] for name in strategies if targets[name]},
        "stop_reason_changed": sum(stops.values()),
        "stop_reasons": dict(sorted(stops.items())),
        "changed": changed,
    }


def _hash(text: Any) -> int:
    digest = hashlib.blake2b(str(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def release_keys(folder: Path) -> dict[str, Counter]:
    """Row keys of every config of a release folder: (id, round, sample_idx) for raw samples,
    (id, response hash) for released responses, the id for query tables."""
    out: dict[str, Counter] = {}
    if not folder.is_dir():
        return out
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(sub.glob("*.parquet"))
        if not files:
            continue
        names = pq.read_schema(files[0]).names
        if {"round", "sample_idx"} <= set(names):
            cols = ["id", "round", "sample_idx"]
        elif "response" in names:
            cols = ["id", "response"]
        else:
            cols = ["id"]
        keys: Counter = Counter()
        for f in files:
            t = pq.read_table(f, columns=cols).to_pydict()
            if "response" in t:
                t["response"] = [_hash(x) for x in t["response"]]
            keys.update(zip(*(t[c] for c in cols), strict=True))
        out[sub.name] = keys
    return out


def compare_releases(old_root: Path, new: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Rows before and after, added and removed, per release (and config of the pool)."""
    report: dict[str, dict[str, int]] = {}
    for folder in new.values():
        before, after = release_keys(old_root / folder.name), release_keys(folder)
        for config in sorted(set(before) | set(after)):
            a, b = before.get(config, Counter()), after.get(config, Counter())
            name = folder.name if config == "data" else f"{folder.name}/{config}"
            report[name] = {
                "rows_before": sum(a.values()),
                "rows_after": sum(b.values()),
                "added": sum((b - a).values()),
                "removed": sum((a - b).values()),
            }
    return report


def regrade_build(
    folder: BuildFolder, *, num_proc: int | None = None, progress: bool = False
) -> RegradeResult:
    """Regrade a build folder (see the module docstring)."""
    del progress  # grading shows datasets' own bar
    s, recipe = build_settings(folder, num_proc)
    queries = build.load_queries(s.build)
    with folder.lock("regrade"):
        work = _work(folder.regrade_work)
        outputs.recover_replaced(folder.releases)  # a release a kill left half moved in
        plan = {"grader": _grader()}
        while True:
            if not work.changes.is_file():  # nothing moved in yet
                if work.plan.is_file() and json.loads(work.plan.read_text()) != plan:
                    shutil.rmtree(work.path)  # staged by another grader: start again
                shards = sampled_rounds(folder)
                work.path.mkdir(exist_ok=True)
                outputs.atomic_write(work.plan, json.dumps(plan) + "\n")
                _stage_build(folder, s, recipe, queries, shards, work)
            report = json.loads(work.changes.read_text(encoding="utf-8"))
            t0 = time.perf_counter()  # the staging time (maybe of a killed run) is in the report
            _commit_build(folder, work)  # a commit once started is finished, whatever the grader
            report["wall_time_s"] = round(report["wall_time_s"] + time.perf_counter() - t0, 2)
            written = save_report(report, folder.report)
            shutil.rmtree(work.path)
            if report["grader"]["after"] == plan["grader"]:
                break
    return RegradeResult(folder.root, "build", report, folder.report, written)


def unchanged(report: dict[str, Any]) -> bool:
    """Whether a regrade changed nothing: the same grader, and no verdict or status moved."""
    v = report["verdicts"]
    return report["grader"]["before"] == report["grader"]["after"] and not (
        v["wrong_to_correct"] or v["correct_to_wrong"] or v["status_changes"]
    )


def save_report(report: dict[str, Any], path: Path) -> bool:
    """Write `report` to `path` (`regrade.json`), unless it changed nothing and `path` holds
    an earlier regrade's report (a rerun of a finished regrade keeps what it did)."""
    if unchanged(report) and path.is_file():
        logger.info("%s: nothing changed; the last regrade's report is kept", path)
        return False
    outputs.atomic_write(path, json.dumps(report, indent=1, default=str) + "\n")
    return True


def _work(work: RegradeWork) -> RegradeWork:
    """`work`, refused when a file sits where its folder belongs."""
    if work.path.exists() and not work.path.is_dir():
        raise DartError(
            f"{work.path} is a file where dart-hf keeps a regrade's staged files: delete it and "
            "rerun the same command"
        )
    return work


def _grader() -> dict[str, Any]:
    return grader_info()


def _stage_build(
    folder: BuildFolder,
    s: build.BuildSettings,
    recipe: dict[str, Any],
    queries: Dataset,
    shards: list[int],
    work: RegradeWork,
) -> None:
    """Grade every round into `work`, replay the states, assemble, and write the report."""
    t0 = time.perf_counter()
    out = folder.root
    graded_before = _stage_record(folder, recipe, queries, work)
    paths = [_grade_round(folder, r, n, s, work) for r, n in enumerate(shards)]
    verdicts = _merge_verdicts(
        [
            compare_verdicts(
                _verdict_table(folder.round(r).graded),
                _verdict_table(p),
                ("id", "round", "sample_idx"),
            )
            for r, p in enumerate(paths)
        ]
    )
    ids = list(queries["id"])
    position = {q: i for i, q in enumerate(ids)}

    saved = []
    for p in paths:
        t = build.read_graded(p).data.table.select(["id", "correct", "grade_status"])
        index = np.asarray([position[q] for q in t.column("id").to_pylist()], dtype=np.int64)
        saved.append(
            rounds.Outcome.from_rows(
                index,
                t.column("correct").to_pylist(),
                len(ids),
                status=t.column("grade_status").to_pylist(),
            )
        )

    if work.states.exists():
        shutil.rmtree(work.states)
    state = None
    for r, state in replay_states(ids, queries["level"], queries["source"], saved, s.dars):
        dars.save_state(state, work.state(r))
    assert state is not None  # at least one round (sampled_rounds)
    last = folder.last_round()
    old_state = None
    if last >= 0:
        rebuild = (
            f"delete it, run `dart-hf build --config {folder.recipe} -o {out}` (it "
            "counts the round again), then regrade"
        )
        with outputs.damaged(folder.state(last), rebuild):
            old_state = dars.load_state(folder.state(last))
    pool = concatenate_datasets([build.read_graded(p) for p in paths])
    staged = work.releases
    if staged.exists():
        shutil.rmtree(staged)
    releases, fig = build.assemble_releases(folder, queries, state, s, into=staged, pool=pool)
    result_stats = build.release_stats(folder, s, recipe, state, fig)
    stats.save_stats(result_stats, work.stats)
    build.write_cards(releases, result_stats, s)
    need = more_samples(state, s.dars)
    report = {
        "kind": "build",
        "folder": str(out),
        "grader": {"before": graded_before, "after": _grader()},
        "verdicts": verdicts,
        "releases": compare_releases(folder.releases, releases),
        "queries": compare_states(old_state, state, s.dars.strategies),
        "more_samples": None
        if need is None
        else {
            **need,
            "command": f"dart-hf build --config {folder.recipe} -o {out}",
        },
        "wall_time_s": round(time.perf_counter() - t0, 2),
    }
    outputs.atomic_write(work.changes, json.dumps(report, indent=1, default=str) + "\n")


def _commit_build(folder: BuildFolder, work: RegradeWork) -> None:
    """Move the staged files in; every step may be repeated after a kill (`build.json` last)."""
    for r, path in work.graded_rounds():
        os.replace(path, folder.round(r).graded)
    if work.states.is_dir():
        folder.states.mkdir(exist_ok=True)
        keep = {p.name for p in work.states.glob("round-*.parquet")}
        for old in folder.state_files():
            if old.name not in keep:
                old.unlink()
        for path in sorted(work.states.glob("round-*.parquet")):
            os.replace(path, folder.states / path.name)
        work.states.rmdir()
    if work.stats.is_file():
        os.replace(work.stats, folder.stats)
    if work.releases.is_dir():
        folder.releases.mkdir(exist_ok=True)
        for staged in sorted(p for p in work.releases.iterdir() if p.is_dir()):
            outputs.replace_folder(staged, folder.release(staged.name))
        shutil.rmtree(work.releases)
    if work.record.is_file():
        os.replace(work.record, folder.record)


# --------------------------------------------------------------------------- eval folders


def eval_settings(results: dict[str, Any], where: str, num_proc: int | None = None) -> tuple:
    """The `EvalConfig` and `EngineSpec` an evaluation's `results.json` records."""
    settings = results.get("settings")
    if not isinstance(settings, dict) or not isinstance(settings.get("engine"), dict):
        raise DartError(f"{where}: no evaluation settings recorded")
    names = {f.name for f in dataclasses.fields(EvalConfig)}
    values = {k: v for k, v in settings.items() if k in names}
    if num_proc is not None:
        values["num_proc"] = num_proc
    config = build_dataclass(EvalConfig, values, where=where)
    engine = settings["engine"]

    spec = EngineSpec.from_dict(engine)
    return config, spec


def check_eval_samples(folder: EvalFolder, config: Any) -> None:
    """Refuse an evaluation whose sampling shards are not all on disk (one line, named)."""
    out = folder.root
    for bench in config.benchmarks:
        for seed in config.seeds:
            samples = folder.samples(bench, seed)
            count = samples.recorded_count()
            if count is None:
                raise DartError(
                    f"{samples.path}: never sampled: the raw samples are incomplete; rerun the "
                    f"`dart-hf eval` command of {out} to finish it, then regrade"
                )
            have = count - len(samples.missing(count))
            if have < count:
                raise DartError(
                    f"{samples.path}: {have} of {count} shards: the raw samples are incomplete; "
                    f"rerun the `dart-hf eval` command of {out} to finish it, then regrade"
                )


EVAL_KEYS = ("benchmark", "id", "seed", "sample_idx")


def prediction_verdicts(folder: EvalFolder) -> pa.Table:
    """Key and verdict columns of every prediction of an evaluation's `predictions/`."""
    cols = [*EVAL_KEYS, *VERDICT_COLUMNS]
    parts = [pq.read_table(f, columns=cols) for f in folder.prediction_files()]
    if not parts:
        raise DartError(f"{folder.predictions}: no predictions: the evaluation did not finish")
    table = pa.concat_tables([p.cast(parts[0].schema) for p in parts])
    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in EVAL_KEYS])
    return table.take(order)


def regrade_eval(folder: EvalFolder, *, num_proc: int | None = None, progress: bool = False) -> RegradeResult:
    """Regrade an evaluation folder: `run_eval(regrade=True)` with its recorded settings."""
    out, path = folder.root, folder.results
    if not path.is_file():
        raise DartError(
            f"{out}: no results.json: the evaluation did not finish; rerun its `dart-hf eval` "
            "command to finish it, then regrade"
        )
    t0 = time.perf_counter()
    with folder.lock("regrade"):  # before the snapshot: a refused regrade leaves none
        results = outputs.read_json(
            path,
            f"delete it and rerun the `dart-hf eval` command of {out} (it writes it "
            "again from the saved samples), then regrade",
        )
        config, spec = eval_settings(results, str(path), num_proc)
        check_eval_samples(folder, config)
        work = _work(folder.regrade_work)
        before_path = work.predictions  # the verdicts before, kept across a kill
        if not before_path.is_file():  # written last: the plan beside it is whole
            work.path.mkdir(exist_ok=True)
            accuracy = {
                bench: (entry or {}).get("accuracy")
                for bench, entry in (results.get("benchmarks") or {}).items()
            }
            plan = {"grader": results.get("grader"), "accuracy": accuracy}
            outputs.atomic_write(work.plan, json.dumps(plan) + "\n")
            tmp = before_path.with_name(before_path.name + ".tmp")
            pq.write_table(prediction_verdicts(folder), tmp)
            os.replace(tmp, before_path)
        with outputs.damaged(before_path):
            before = pq.read_table(before_path)
        plan = outputs.read_json(work.plan, keys=("grader",))
        if "accuracy" not in plan:  # staged by an older dart-hf: results.json is still the old
            plan["accuracy"] = {
                b: (e or {}).get("accuracy") for b, e in (results.get("benchmarks") or {}).items()
            }
        new = evaluation.run_eval(config, out, engine_spec=spec, progress=progress, regrade=True, lock=False)
        after = prediction_verdicts(folder)
        if after.num_rows != before.num_rows:
            raise DartError(f"{out}: the regraded predictions do not line up with the saved ones")
        accuracy = {
            bench: [plan["accuracy"].get(bench), entry.get("accuracy")]
            for bench, entry in new.get("benchmarks", {}).items()
        }
        report = {
            "kind": "eval",
            "folder": str(out),
            "grader": {"before": plan["grader"], "after": new.get("grader")},
            "verdicts": compare_verdicts(before, after.cast(before.schema), EVAL_KEYS),
            "accuracy": accuracy,
            "wall_time_s": round(time.perf_counter() - t0, 2),
        }
        written = save_report(report, folder.report)
        shutil.rmtree(work.path)
    return RegradeResult(out, "eval", report, folder.report, written)


# --------------------------------------------------------------------------- the report


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


def _grader_text(g: dict[str, Any] | None) -> str:
    if not g:
        return "unknown"
    return f"{g.get('name')} {g.get('version')} (grade version {g.get('grade_version')})"


def format_report(report: dict[str, Any], max_queries: int = 20) -> str:
    """The report of a regrade as plain-text tables, for the CLI to print."""
    v = report["verdicts"]
    lines = [
        f"regrade of {report['folder']} ({report['kind']}), {v['samples']} samples, "
        f"{report['wall_time_s']:.1f} s",
        f"grader: {_grader_text(report['grader']['before'])} -> {_grader_text(report['grader']['after'])}",
        "",
        *_table(
            [
                ["verdicts", "samples", "wrong -> correct", "correct -> wrong"],
                ["", str(v["samples"]), str(v["wrong_to_correct"]), str(v["correct_to_wrong"])],
            ]
        ),
    ]
    if v["status_changes"]:
        lines.append("status changes: " + ", ".join(f"{k} {n}" for k, n in v["status_changes"].items()))
    if report["kind"] == "eval":
        rows = [["benchmark", "accuracy before", "after"]]
        for bench, (a, b) in report["accuracy"].items():
            rows.append([bench, "-" if a is None else f"{a:.2f}", "-" if b is None else f"{b:.2f}"])
        lines += ["", *_table(rows)]
        return "\n".join(lines)
    rows = [["release", "rows before", "rows after", "added", "removed"]]
    for name, r in report["releases"].items():
        rows.append([name, *(str(r[k]) for k in ("rows_before", "rows_after", "added", "removed"))])
    lines += ["", *_table(rows)]
    q = report["queries"]
    lines.append("")
    if not q["compared"]:
        lines.append("queries: no earlier final state to compare with")
    else:
        targets = ", ".join(f"{k} {n}" for k, n in q["target_changed"].items()) or "none"
        stops = ", ".join(f"{k} {n}" for k, n in q["stop_reasons"].items()) or "none"
        lines.append(f"queries whose target changed: {targets}; stop reason changed: {stops}")
        if q["changed"]:
            cols = sorted({c for e in q["changed"] for c in e if c.startswith("target_")})
            rows = [["id", "level", "corrects", *cols, "stop reason"]]
            for e in q["changed"][:max_queries]:
                stop = e.get("stop_reason")
                rows.append(
                    [
                        e["id"],
                        "-" if e["level"] in (None, -1) else str(e["level"]),
                        "{} -> {}".format(*e["corrects"]),
                        *("{} -> {}".format(*e[c]) if c in e else "" for c in cols),
                        "" if stop is None else " -> ".join(x or "open" for x in stop),
                    ]
                )
            lines += _table(rows)
            if len(q["changed"]) > max_queries:
                lines.append(f"... {len(q['changed']) - max_queries} more in regrade.json")
    need = report.get("more_samples")
    if need:
        lines.append(
            f"{need['queries']} queries need more samples than the build has: the next round "
            f"asks for {need['next_round']} (about {need['projected']} in all); "
            f"`{need['command']}` draws them"
        )
    else:
        lines.append("every query is finished: no more samples needed")
    return "\n".join(lines)
