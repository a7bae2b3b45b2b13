"""`dart-hf build`: one pool of graded raw samples, assembled into every requested release.

Round 0 is the difficulty phase (`difficulty_samples` per query, or fail rates loaded from an
earlier run); fail rates are then frozen and targets set. With `gold: majority` round 0 is a
vote phase whose majority answers become the golds of rows without one (`build/majority.py`),
and round 1 is the difficulty phase. Every later round filters the open
queries, asks the scheduler for per-query counts (`n_samples`, `sample_offset`), samples them
(`sampling.run_sampling` into `rounds/round-XXX/`), grades them, updates the counts and applies
the stop rules before the next round is scheduled. The state is saved after every round
(`state/round-XXX.parquet`); the same command on the same `--out` resumes from the last
finished round, and `run_sampling` resumes the shards of an unfinished one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from datasets import Dataset, concatenate_datasets

from dart_hf import benchmarks, dars, outputs, sources
from dart_hf.arrow_io import write_arrow
from dart_hf.build import assemble, cards, rounds, schema, stats
from dart_hf.build import majority as gold_majority
from dart_hf.build.stats import BuildStats
from dart_hf.config import (
    SERVER_SETTINGS,
    BuildConfig,
    DarsConfig,
    GradeConfig,
    SamplingConfig,
    ServerConfig,
    build_dataclass,
    resolve_section,
)
from dart_hf.engines import check_model
from dart_hf.engines.base import EngineSpec
from dart_hf.engines.serve import attach
from dart_hf.errors import DartError
from dart_hf.executors import Executor, ExecutorSpec, make_executor
from dart_hf.folders import BuildFolder
from dart_hf.grading import audit as gold_audit
from dart_hf.grading.grade import grader_info
from dart_hf.hub import folder as hub
from dart_hf.hub.push import push_folders
from dart_hf.sampling import shards as sampling
from dart_hf.sampling.prompts import get_template
from dart_hf.sampling.shards import check_context
from dart_hf.strategies import POOL, STRATEGIES

logger = logging.getLogger(__name__)

POOL_RELEASE = "dart-math-pool"
NOT_FINGERPRINTED = (
    frozenset({"push", "org", "num_proc", "max_in_flight", "stream", "overlap_grading"}) | SERVER_SETTINGS
)
"""Settings that change no output file (cards are re-rendered on every run)."""


@dataclass(frozen=True)
class BuildSettings:
    """Every setting of a build, validated."""

    build: BuildConfig
    dars: DarsConfig
    sampling: SamplingConfig
    grade: GradeConfig
    server: ServerConfig = field(default_factory=ServerConfig)

    @classmethod
    def from_dict(cls, settings: dict[str, Any], where: str = "build settings") -> BuildSettings:
        """Build from a flat settings mapping (recipe after overrides; see `resolve_settings`)."""
        return cls(
            build=build_dataclass(BuildConfig, settings, where),
            dars=build_dataclass(DarsConfig, settings, where),
            sampling=build_dataclass(SamplingConfig, settings, where),
            grade=build_dataclass(GradeConfig, settings, where),
            server=build_dataclass(ServerConfig, settings, where),
        )

    @property
    def grading(self) -> GradeConfig:
        """The grading settings a build uses: `require_anchor` null takes the sampling
        template's record (`deepseekmath`, `chat` ask for an anchored answer)."""
        if self.grade.require_anchor is not None:
            return self.grade
        anchored = get_template(self.sampling.template).anchored
        return replace(self.grade, require_anchor=anchored)

    def to_dict(self) -> dict[str, Any]:
        """Flat plain form, as saved to `recipe.yaml` (no secret: `ServerConfig.to_record`)."""
        out: dict[str, Any] = {}
        for part in (self.build, self.dars, self.sampling, self.grade):
            out.update(asdict(part))
        if self.server != ServerConfig():
            out.update(self.server.to_record())
        out["strategies"] = list(self.dars.strategies)
        out["pool"] = list(self.build.pool)
        out["engine_options"] = dict(self.build.engine_options)
        out["levels"] = None if self.build.levels is None else list(self.build.levels)
        return out


@dataclass
class BuildResult:
    """What a build produced."""

    out: Path
    stats: BuildStats
    releases: dict[str, Path] = field(default_factory=dict)


SETTING_NAMES = frozenset(
    f
    for c in (BuildConfig, DarsConfig, SamplingConfig, GradeConfig, ServerConfig)
    for f in c.__dataclass_fields__
)


def resolve_settings(recipe: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Flat build settings: recipe keys, its `build:` mapping (wins), then CLI overrides
    (`config.resolve_section`, the one settings path; `dart-hf sample` reads the same)."""
    return resolve_section(recipe, "build", overrides, SETTING_NAMES)


def stratified_head(levels: list[int | None], limit: int) -> list[int]:
    """Row indices of a deterministic, level-stratified head (round robin over levels)."""
    lv = np.asarray([-1 if x is None else x for x in levels])
    rank = np.zeros(len(lv), dtype=np.int64)
    for value in np.unique(lv):
        m = lv == value
        rank[m] = np.arange(m.sum())
    order = np.lexsort((lv, rank))[:limit]
    return sorted(order.tolist())


def load_queries(cfg: BuildConfig) -> Dataset:
    """The build's query pool: pools concatenated, optional level slice and limit, checked."""
    ds = sources.load_pools(  # ids unique across pools
        cfg.pool,
        data_dir=cfg.data_dir,
        query_column=cfg.query_column,
        answer_column=cfg.answer_column,
    )
    if cfg.levels is not None:
        levels = set(cfg.levels)
        found = sorted({"none" if lv is None else str(lv) for lv in ds["level"]})
        ds = ds.filter(lambda lv: lv in levels, input_columns="level")
        if len(ds) == 0:
            raise DartError(
                f"the query pool ({', '.join(cfg.pool)}) has no rows of levels "
                f"{', '.join(map(str, cfg.levels))} (setting `levels`; its rows have levels "
                f"{', '.join(found)}); set `levels` in a recipe (`levels: null` keeps all)"
            )
    if cfg.limit is not None and cfg.limit < len(ds):
        ds = ds.select(stratified_head(ds["level"], cfg.limit))
    if len(ds) == 0:
        raise DartError(f"the query pool ({', '.join(cfg.pool)}) has no rows")
    answers = ds["answer"]
    missing = [i for i, a in enumerate(answers) if a is None or not str(a).strip()]
    if missing and cfg.gold == "majority":
        logger.info(
            "%d of %d queries have no gold answer: gold: majority takes the majority answer of "
            "their first samples",
            len(missing),
            len(ds),
        )
        return ds
    if len(missing) == len(ds):
        raise DartError(
            f"the query pool ({', '.join(cfg.pool)}) has no gold answers (column 'answer' is "
            f"empty in all {len(ds)} rows); name the answer column with --answer-column, or "
            f"give --gold majority to take each query's majority answer as its gold"
        )
    if missing:
        logger.warning(
            "dropping %d queries without a gold answer (e.g. id %s)",
            len(missing),
            ds[missing[0]]["id"],
        )
        drop = set(missing)
        ds = ds.select([i for i in range(len(ds)) if i not in drop])
    return ds


def _open_rows(n_samples: int) -> bool:
    return n_samples > 0


def fingerprint(settings: dict[str, Any], queries: Dataset) -> dict[str, Any]:
    """What makes a build: its settings, the grader, and a content hash of the queries and of
    their gold answers (a pool whose golds changed under the same ids is a different build)."""
    return {
        "settings": {k: v for k, v in settings.items() if k not in NOT_FINGERPRINTED},
        "grader": grader_info(),
        "data": outputs.data_fingerprint(queries),
    }


def _check_recipe(folder: BuildFolder, settings: dict[str, Any], queries: Dataset) -> None:
    """Record what makes this build in the folder, or refuse a rerun made with anything else."""
    out = folder.root
    work = folder.regrade_work
    if work.path.is_dir():  # half moved in: finish it before sampling on
        staged = (
            ""
            if work.changes.is_file()
            else (f", or delete {work.path} to drop it (none of it was moved in yet)")
        )
        raise DartError(f"{out}: a regrade was interrupted; run `dart-hf regrade {out}` to finish it{staged}")
    if not folder.record.is_file() and folder.recipe.is_file() and folder.has_work():
        raise DartError(
            f"{out} holds a build from an older dart-hf that did not record its grader and "
            f"queries ({folder.record.name} is missing); use a new --out"
        )
    status = outputs.check_fingerprint(
        folder.record,
        fingerprint(settings, queries),
        what="a build",
        has_work=folder.has_work,
        remedy="use a new --out",
        regradable=("grader",),
        regrade_remedy=f"run `dart-hf regrade {out}` to grade its samples again with the current "
        "grader (then this command continues the build where new targets need more samples)",
    )
    if status == "replaced":  # an earlier run that finished nothing: its derived files go too
        folder.scripted_table.unlink(missing_ok=True)
    outputs.atomic_write(folder.recipe, yaml.safe_dump(settings, sort_keys=True))


def engine_spec(cfg: BuildConfig, folder: BuildFolder, queries: Dataset) -> EngineSpec:
    """The engine spec; the scripted engine gets a query/answer table written from the pool."""
    options = dict(cfg.engine_options)
    if cfg.engine == "scripted" and "table" not in options:
        table = folder.scripted_table
        if not table.is_file():
            cols = [c for c in ("query", "answer", "solution", "level") if c in queries.column_names]
            with outputs.disk_full(table, table):
                queries.select_columns(cols).to_parquet(str(table))
        options["table"] = str(table)
    return cfg.engine_spec(**options)


def _run_round(
    r: int,
    queries: Dataset,
    state: dars.State,
    n: np.ndarray,
    build_folder: BuildFolder,
    spec: EngineSpec,
    s: BuildSettings,
    progress: bool,
    executor: Executor,
    overlap: bool | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """Sample and grade one round (resuming its shards and journals) in one executor call;
    returns the graded rows and the round's meta (`meta.json`: rows, tokens, wall time and
    what the stream measured)."""
    folder = build_folder.round(r)
    if folder.finished():
        meta = outputs.read_json(folder.meta, keys=("raw_samples",))
        return read_graded(folder.graded), meta
    t0 = time.perf_counter()
    drawn = state["samples"] + state.get("failed", 0)  # failed requests used their sample_idx
    todo = queries.add_column("n_samples", n.tolist()).add_column(
        "sample_offset", np.asarray(drawn, dtype=np.int64).tolist()
    )
    todo = todo.filter(_open_rows, input_columns="n_samples", desc=f"round {r}: open queries")
    stream = s.build.stream_config()
    if overlap is not None:
        stream = dataclasses.replace(stream, overlap_grading=overlap)
    run = executor.run_round(
        todo,
        folder,
        engine_spec=spec,
        sampling=s.sampling,
        round=r,
        seed=s.build.seed,
        shard_size=s.build.shard_size,
        grade=s.grading,
        progress=progress,
        stream=stream,
    )
    graded = run.graded
    write_arrow(graded, folder.graded)
    meta = {
        "round": r,
        "queries": len(todo),
        "raw_samples": len(graded),
        "tokens": int(np.sum(graded["n_tokens"])) if len(graded) else 0,
        "wall_time_s": round(time.perf_counter() - t0, 3),
        **run.figures,
    }
    outputs.atomic_write(folder.meta, json.dumps(meta) + "\n")
    for part in folder.graded_shards():  # the round's graded rows are whole in `graded`
        part.unlink(missing_ok=True)
    return read_graded(folder.graded), meta


def read_graded(path: Path, remedy: str = outputs.REDO) -> Dataset:
    """A round's graded rows (memory-mapped); a damaged file is named with `remedy` (a build
    grades a deleted one again from the round's shards)."""
    with outputs.damaged(path, remedy):
        return Dataset.from_file(str(path))


class BuildRounds:
    """A build's rounds for `rounds.advance`: sampled and graded by the executor into the
    build folder (a finished round is read back), the vote round's golds set from its votes.

    `queries` holds the vote phase's golds once it has run.
    """

    def __init__(
        self,
        folder: BuildFolder,
        queries: Dataset,
        s: BuildSettings,
        spec: EngineSpec,
        executor: Executor,
        progress: bool = False,
    ) -> None:
        self.folder, self.queries, self.s, self.spec = folder, queries, s, spec
        self.executor, self.progress = executor, progress
        self.position = {q: i for i, q in enumerate(queries["id"])}
        self.majority = s.build.gold == "majority"
        self.last_rows = 0

    def run(self, r: int, requests: np.ndarray, state: dars.State) -> rounds.Outcome | None:
        """Sample and grade round r; None when nothing is requested."""
        if not requests.any():
            return None
        vote = self.majority and r == gold_majority.VOTE_ROUND
        graded, _ = _run_round(
            r,
            self.queries,
            state,
            requests,
            self.folder,
            self.spec,
            self.s,
            self.progress,
            self.executor,
            overlap=False if vote else None,  # the votes need the whole round
        )
        adjust = None
        if vote:
            # golds from the votes; the round is graded again against them
            graded, self.queries = vote_phase(self.folder, self.queries, graded, self.s, self.executor)
            votes = read_majority_table(self.folder)
            adjust = lambda st: gold_majority.leave_out(st, votes)  # noqa: E731
        self.last_rows = len(graded)
        index = np.asarray([self.position[q] for q in graded["id"]], dtype=np.int64)
        return rounds.Outcome.from_rows(
            index, graded["correct"], len(self.position), adjust, graded["grade_status"]
        )


GRADE_COLUMNS = ("pred", "correct", "grade_status", "verdict_source")
"""The columns `grading.grade_batch` adds."""


def read_majority_table(folder: BuildFolder) -> dict[str, list[Any]]:
    """The votes of a `gold: majority` build (`BuildFolder.majority_votes`)."""
    path = folder.majority_votes
    if not path.is_file():
        raise DartError(f"{folder.root}: the vote phase's golds ({path.name}) are missing; use a new --out")
    with outputs.damaged(path, "use a new --out (the golds of the vote phase are lost)"):
        return pq.read_table(path).to_pydict()


def with_majority_golds(folder: BuildFolder, queries: Dataset) -> Dataset:
    """The queries with the golds of the build's vote phase (`queries` unchanged without one)."""
    if not folder.majority_votes.is_file():
        return queries
    return gold_majority.apply_golds(queries, gold_majority.golds_of(read_majority_table(folder)))


def vote_phase(
    folder: BuildFolder, queries: Dataset, graded: Dataset, s: BuildSettings, executor: Executor
) -> tuple[Dataset, Dataset]:
    """Golds for the queries without one from the vote round's samples, then that round
    graded again against them. Returns the regraded round and the queries with their golds.

    The votes are saved (`BuildFolder.majority_votes`) before the round is regraded, and regrading
    is skipped once done, so a build killed anywhere in between resumes to the same result.
    """
    path = folder.majority_votes
    if not path.is_file():
        needs = [q for q, a in zip(queries["id"], queries["answer"], strict=True) if not (a or "").strip()]
        config = gold_audit.GoldAuditConfig(s.build.gold_min_votes, s.build.gold_min_share)
        votes = gold_majority.vote(graded, needs, config, timeout=max(1, int(s.grade.timeout_s)))
        schema = pa.schema(
            [
                ("id", pa.string()),
                ("gold_source", pa.string()),
                ("gold_majority", pa.string()),
                ("gold_majority_votes", pa.int64()),
                ("gold_voters", pa.int64()),
            ]
        )
        tmp = path.with_name(path.name + ".tmp")
        with outputs.disk_full(path, tmp):
            pq.write_table(pa.table(votes, schema=schema), tmp)
            tmp.replace(path)
        left = votes["gold_source"].count(None)
        logger.info(
            "vote phase: %d golds from majority votes, %d queries without a clear majority left out",
            len(needs) - left,
            left,
        )
    golds = gold_majority.golds_of(read_majority_table(folder))
    rows = graded.data.table.select(["id", "answer"])
    pending = pc.and_(
        pc.is_in(rows["id"], value_set=pa.array(list(golds), pa.string())), pc.equal(rows["answer"], "")
    )
    if golds and pc.any(pending).as_py():
        fresh = graded.remove_columns([c for c in GRADE_COLUMNS if c in graded.column_names])
        regraded = executor.grade(gold_majority.apply_golds(fresh, golds), s.grading)
        target = folder.round(gold_majority.VOTE_ROUND).graded
        write_arrow(regraded, target)
        graded = read_graded(target)
    return graded, gold_majority.apply_golds(queries, golds)


def restore_graded(folder: BuildFolder, s: BuildSettings, executor: Executor, last: int) -> None:
    """Grade again, from their raw shards, the finished rounds (up to `last`) whose graded rows
    are gone, so the releases hold every sample the states count (the grader is the one the
    folder records, so the verdicts are the same); a finished round's lost `meta.json` is
    written again from its graded rows (its wall time is then unknown: 0).

    Raises:
        DartError: Such a round's raw shards are incomplete too (named, with the remedy).
    """
    for r in range(last + 1):
        rf = folder.round(r)
        if rf.graded.is_file():
            if not rf.meta.is_file():
                graded = read_graded(rf.graded)
                meta = {
                    "round": r,
                    "queries": len(set(graded["id"])),
                    "raw_samples": len(graded),
                    "tokens": int(np.sum(graded["n_tokens"])) if len(graded) else 0,
                    "wall_time_s": 0.0,
                }
                outputs.atomic_write(rf.meta, json.dumps(meta) + "\n")
                logger.warning(
                    "%s was missing: written again from the round's graded rows (wall time unknown)", rf.meta
                )
            continue
        if not (rf.meta.is_file() or rf.has_shards()):
            continue  # a round that sampled nothing (every query had stopped)
        count = rf.recorded_count()
        missing = rf.missing(count) if count is not None else []
        if count is None or missing:
            lost = rf.manifest if count is None else rf.shard(missing[0])
            raise DartError(
                f"{rf.graded} is missing and so is {lost}: round {r}'s samples are lost, and a "
                "finished round is not sampled again; restore the files, or build into a new --out"
            )
        raw = sampling.load_samples(rf, count)
        if s.build.gold == "majority" and r == gold_majority.VOTE_ROUND:
            raw = with_majority_golds(folder, raw)  # graded against the votes' golds
        graded = executor.grade(raw, s.grading)
        recorded = outputs.read_json(rf.meta) if rf.meta.is_file() else {}
        if recorded.get("raw_samples", len(graded)) != len(graded):
            raise DartError(
                f"{rf.graded} is missing and round {r}'s shards hold {len(graded)} samples where "
                f"{rf.meta.name} records {recorded['raw_samples']}: build into a new --out"
            )
        write_arrow(graded, rf.graded)
        logger.warning(
            "%s was missing: graded again from round %d's %d raw samples", rf.graded, r, len(graded)
        )


def run_rounds(
    queries: Dataset,
    folder: BuildFolder,
    s: BuildSettings,
    spec: EngineSpec,
    progress: bool = False,
    executor: Executor | None = None,
) -> dars.State:
    """Run (or resume) rounds until every query has a stop reason; returns the final state.

    Each round is one `rounds.advance` step, saved as `state/round-XXX.parquet`. The
    executor (local by default, or Ray) only decides where sampling and grading run: files,
    counts, stop rules and resume are the same with either.
    """
    executor = executor or make_executor(ExecutorSpec())
    cfg = s.dars
    majority = s.build.gold == "majority"
    phases = 2 if majority and not cfg.fail_rate_from else 1  # the vote, then the fail rates
    if majority and cfg.max_trials < phases * cfg.difficulty_samples:
        raise DartError(
            f"gold: majority samples difficulty_samples ({cfg.difficulty_samples}) twice, a "
            f"vote phase that sets the golds and a phase that measures fail rates; max_trials "
            f"({cfg.max_trials}) must be at least {phases * cfg.difficulty_samples}"
        )
    ids = queries["id"]
    prev = folder.last_round()
    restore_graded(folder, s, executor, prev)
    if majority and prev >= gold_majority.VOTE_ROUND:
        queries = with_majority_golds(folder, queries)
    if prev >= 0:
        with outputs.damaged(folder.state(prev)):  # deleted: the round is counted again
            state = dars.load_state(folder.state(prev))
        if list(state["id"]) != list(ids):
            raise DartError(f"{folder.root}: saved state does not match the query pool; use a new --out")
    else:
        state = rounds.start(ids, queries["level"], queries["source"], cfg)
        if (
            not cfg.fail_rate_from
            and cfg.budget is not None
            and cfg.budget < phases * len(ids) * cfg.difficulty_samples
        ):
            raise DartError(
                f"budget {cfg.budget} is below the difficulty phase "
                f"({phases} x {len(ids)} queries x {cfg.difficulty_samples} samples)"
            )
    source = BuildRounds(folder, queries, s, spec, executor, progress)
    for r, step in rounds.run(state, prev + 1, cfg, rounds.phases(cfg, majority), source):
        state = step.state
        dars.save_state(state, folder.state(r))
        if step.ran:
            logger.info(
                "round %d: %d samples, %d queries open",
                r,
                source.last_rows,
                int((~state["done"]).sum()),
            )
    return state


def graded_pool(folder: BuildFolder) -> Dataset:
    """Every graded raw sample of the build, in round order (memory-mapped)."""
    files = folder.graded_files()
    if not files:
        raise DartError(f"{folder.root}: no graded rounds")
    parts = [read_graded(f) for f in files]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def decontamination_mask(queries: list[str], cfg: BuildConfig) -> tuple[np.ndarray, list[str]]:
    """Queries overlapping any available benchmark's test questions, and the benchmarks used."""
    if not cfg.decontaminate:
        return np.zeros(len(queries), dtype=bool), []
    texts: list[str] = []
    used = []
    for name in benchmarks.decontaminated():
        try:
            bench = sources.load_benchmark(name, data_dir=cfg.data_dir, include_pictures=True)
        except DartError as exc:
            logger.warning("decontamination: benchmark %s not available (%s)", name, exc)
            continue
        texts.extend(bench["query"])
        used.append(name)
    return assemble.contaminated(queries, texts, cfg.decontam_ngram), used


def gold_audit_columns(pool: Dataset, state: dars.State, cfg: BuildConfig) -> dict[str, list]:
    """`grading.audit.audit_pool` over the samples of the queries without a correct one."""
    ids = list(state["id"])
    unsolved = pa.array([q for q, c in zip(ids, state["corrects"], strict=True) if c == 0])
    cols = ["id", "pred", "correct", "grade_status", "verdict_source"]
    table = pool.data.table.select(cols) if len(unsolved) else None
    if table is not None:
        table = table.filter(pc.is_in(table["id"], value_set=unsolved))
    sub = table.to_pydict() if table is not None else {c: [] for c in cols}
    config = gold_audit.GoldAuditConfig(cfg.gold_min_votes, cfg.gold_min_share, cfg.exclude_disputed)
    return gold_audit.audit_pool(
        ids,
        sub["id"],
        sub["pred"],
        sub["correct"],
        sub["grade_status"],
        config,
        sources=sub["verdict_source"],
    )


def query_info(
    queries: Dataset,
    state: dars.State,
    kept: dict[str, np.ndarray],
    excluded: np.ndarray,
    audit: dict[str, list] | None = None,
) -> Dataset:
    """Per-query table: samples, corrects, fail rate and its samples, targets, kept, stop,
    and the gold audit (`gold_status`, majority answer and votes); the `queries` config of
    the release schema (`gold_source` when the audit has it: a `gold: majority` build)."""
    cols: dict[str, Any] = {
        "id": list(state["id"]),
        "source": list(state["source"]),
        "level": [None if lv < 0 else int(lv) for lv in state["level"]],
        "domain": queries["domain"],
        "query": queries["query"],
        "answer": queries["answer"],
        "samples": state["samples"].tolist(),
        "corrects": state["corrects"].tolist(),
        "fail_rate": [None if np.isnan(x) else float(x) for x in state["fail_rate"]],
        "fail_rate_samples": state["fail_rate_samples"].tolist(),
    }
    for name, k in kept.items():
        cols[f"target_{name}"] = state[f"target_{name}"].tolist()
        cols[f"kept_{name}"] = k.tolist()
    cols["reached"] = [r == "reached" for r in state["stop_reason"]]
    cols["decontaminated"] = excluded.tolist()
    cols["stop_reason"] = list(state["stop_reason"])
    cols.update(audit or {})
    return schema.table(schema.QUERIES, cols, list(kept), majority="gold_source" in cols)


def check_pool_schema(out: Path, samples: Dataset) -> None:
    """Refuse graded rounds whose columns are not the pool release's `samples` config.

    Releases are assembled again on every run, so a folder made under an older release
    schema resumes; only graded samples that lack (or mistype) a column, made by an older
    grader or sampler, cannot give the current schema.
    """
    problems = schema.problems_of(samples.features, schema.features(schema.SAMPLES))
    if problems:
        raise DartError(
            f"{out}: the graded rounds do not hold the columns of release schema "
            f"{schema.RELEASE_SCHEMA_VERSION} ({'; '.join(problems)}): they were made by an "
            f"older dart-hf; run `dart-hf regrade {out}` to grade them again, or build into a "
            "new --out"
        )


def assemble_releases(
    folder: BuildFolder,
    queries: Dataset,
    state: dars.State,
    s: BuildSettings,
    into: Path | None = None,
    pool: Dataset | None = None,
) -> tuple[dict[str, Path], stats.BuildFigures]:
    """Write every release folder; return them and the figures the statistics need.

    Args:
        into: Folder the releases are written to (default `folder.releases`); `run_build`
            stages them in `folder.staging` and renames each one in when its card is
            written, so a release is complete or absent.
        pool: The graded samples (default: `graded_pool(folder)`; `dart-hf regrade` passes
            the samples it graded again, before they replace the build's).
    """
    into = into or folder.releases
    pool = graded_pool(folder) if pool is None else pool
    ids = list(state["id"])
    excluded, used = decontamination_mask(queries["query"], s.build)
    audit = gold_audit_columns(pool, state, s.build)
    votes = None
    if s.build.gold == "majority":  # the golds of the vote phase, and its votes per query
        queries = with_majority_golds(folder, queries)
        votes = read_majority_table(folder)
        audit = gold_majority.audit_columns(audit, ids, votes)
    disputed = np.array([g == "disputed" for g in audit["gold_status"]], dtype=bool)
    drop_disputed = s.build.exclude_disputed and bool(disputed.any())
    sel = assemble.select(pool, ids, excluded=excluded | disputed if drop_disputed else excluded)
    # why each sample can be in no release, stored with the pool's samples
    samples = pool.add_column("drop_reason", sel.drop_reason())
    check_pool_schema(folder.root, samples)
    if drop_disputed:  # the pool release leaves out the samples of disputed queries
        gone = pa.array([q for q, d in zip(ids, disputed, strict=True) if d])
        keep = pc.invert(pc.is_in(pool.data.table["id"], value_set=gone))
        samples = samples.select(np.flatnonzero(keep.to_numpy(zero_copy_only=False)))
    fail_rate = {
        q: (None if np.isnan(f) else float(f)) for q, f in zip(ids, state["fail_rate"], strict=False)
    }
    releases: dict[str, Path] = {}
    kept: dict[str, np.ndarray] = {}
    plan: dict[str, np.ndarray] = {}
    for name in s.dars.strategies:
        mask = STRATEGIES[name].select(sel, state[f"target_{name}"])
        kept[name] = sel.kept_per_query(mask, len(ids))
        plan[name] = sel.order[mask]
    filters = sel.filters
    del sel  # write one release at a time with only its row indices in memory
    rows = {name: len(r) for name, r in plan.items()}
    for name, selected in plan.items():
        ds = assemble.release(pool, selected, fail_rate, columns=schema.names(schema.RELEASE))
        schema.check_features(ds.features, schema.RELEASE, where=STRATEGIES[name].release)
        target = into / STRATEGIES[name].release
        hub.write_hub_folder({"default": ds}, target)
        releases[name] = target
        del ds
    target = into / POOL_RELEASE
    hub.write_hub_folder(
        {"samples": samples, "queries": query_info(queries, state, kept, excluded, audit)},
        target,
    )
    releases[POOL] = target
    figures = stats.BuildFigures(
        kept=kept,
        rows=rows,
        filters=filters,
        excluded=excluded,
        correct_samples=int(np.sum(state["corrects"])),
        benchmarks=used,
        gold_status=audit["gold_status"],
        gold_votes=votes,
        truncated_samples=pc.sum(pc.equal(pool.data.table["grade_status"], "truncated")).as_py() or 0,
    )
    return releases, figures


def _round_meta(folder: BuildFolder) -> list[dict[str, Any]]:
    return [outputs.read_json(p, keys=("tokens", "wall_time_s")) for p in folder.metas()]


def run_build(
    settings: dict[str, Any],
    out: str | Path,
    *,
    progress: bool = False,
    executor: ExecutorSpec | None = None,
) -> BuildResult:
    """Run (or resume) a whole build into `out`.

    One run per folder at a time (`outputs.folder_lock`); a full disk is a `DartError` naming
    the path, with no temporary files left behind.

    Args:
        settings: Flat settings (recipe after CLI overrides); see `BuildSettings`.
        out: Output folder (layout in docs/DESIGN.md).
        progress: Show progress bars.
        executor: Where rounds run (default: this process); not part of the settings, so a
            build started locally can resume on Ray and the other way round.

    Raises:
        DartError: Bad settings, an empty pool, a pool without gold answers, an `out` folder
            that holds a build with other settings (or another grader, or other queries or
            gold answers), a folder in use by another run, or a full disk.
    """
    s = BuildSettings.from_dict(settings)
    check_model(s.build.engine, s.build.model)
    folder = BuildFolder(Path(out))
    queries = load_queries(s.build)
    with folder.lock("build"):
        return _run_build(s, folder, queries, progress, executor)


def _run_build(
    s: BuildSettings,
    folder: BuildFolder,
    queries: Dataset,
    progress: bool,
    executor: ExecutorSpec | None,
) -> BuildResult:
    recipe = s.to_dict()
    _check_recipe(folder, recipe, queries)
    outputs.remove_temp(folder.root)  # left by a killed run (we hold the lock)
    outputs.recover_replaced(folder.releases)  # a release a kill left half moved in
    with attach(engine_spec(s.build, folder, queries), s.server, folder.root) as spec:
        check_context(spec, queries, s.sampling)
        state = run_rounds(
            queries,
            folder,
            s,
            spec,
            progress=progress,
            executor=make_executor(executor or ExecutorSpec()),
        )
    releases, fig = assemble_releases(folder, queries, state, s, into=folder.staging)
    result_stats = release_stats(folder, s, recipe, state, fig)
    stats.save_stats(result_stats, folder.stats)
    final: dict[str, Path] = {}

    def move_in(name: str, staged: Path) -> None:  # each release lands once its card is written
        final[name] = folder.release(staged.name)
        outputs.replace_folder(staged, final[name])

    write_cards(releases, result_stats, s, written=move_in)
    folder.staging.rmdir()
    if s.build.push:
        push_folders(list(final.values()), org=s.build.org)  # names every one not pushed
    return BuildResult(out=folder.root, stats=result_stats, releases=final)


def release_stats(
    folder: BuildFolder,
    s: BuildSettings,
    recipe: dict[str, Any],
    state: dars.State,
    fig: stats.BuildFigures,
) -> BuildStats:
    """`stats.json` of a build: the final state, the figures of `assemble_releases`, the
    rounds' tokens and wall time, the engine's provenance and the current grader."""
    meta = _round_meta(folder)
    first = read_graded(folder.round(0).graded).select(range(1)).to_list()
    prov = {
        k: (first[0].get(k) if first else None) for k in ("engine", "engine_version", "model", "model_hash")
    }
    majority = None
    if fig.gold_votes is not None:
        majority = stats.GoldMajority.from_dict(
            gold_majority.majority_stats(
                list(state["id"]),
                [int(lv) for lv in state["level"]],
                fig.gold_votes,
                {
                    "gold": s.build.gold,
                    "gold_min_votes": s.build.gold_min_votes,
                    "gold_min_share": s.build.gold_min_share,
                    "vote_samples": s.dars.difficulty_samples,
                    "fail_rate_round": None if s.dars.fail_rate_from else gold_majority.FAIL_RATE_ROUND,
                },
            )
        )
    shown = {k: v for k, v in recipe.items() if k not in SERVER_SETTINGS}  # no server named
    run = stats.RunRecord(
        recipe=shown | {"decontamination_benchmarks": fig.benchmarks},
        sampling=asdict(s.sampling),
        grader=grader_info(),
        model=stats.ModelInfo(prov["model"], prov["model_hash"]),
        engine=stats.EngineInfo(prov["engine"], prov["engine_version"]),
        tokens=sum(m["tokens"] for m in meta),
        wall_time_s=sum(m["wall_time_s"] for m in meta),
        rounds=len(meta),
        gold=stats.GoldSettings(s.build.gold_min_votes, s.build.gold_min_share, s.build.exclude_disputed),
        gold_majority=majority,
        stream=stats.StreamStats.from_metas(meta),
    )
    return stats.compute_stats(state, s.dars, fig, run)


def write_cards(
    releases: dict[str, Path],
    result_stats: BuildStats,
    s: BuildSettings,
    written: Callable[[str, Path], None] | None = None,
) -> None:
    """Write the card of every (staged) release folder from the build's statistics.

    Args:
        written: Called with (name, folder) as soon as a folder's card is written (the build
            moves the release in then, so a later failure leaves every finished one in place).
    """
    for name, folder in releases.items():
        kind = STRATEGIES[name].card if name in STRATEGIES else POOL
        strategy = name if name in STRATEGIES else s.dars.strategies[0]
        extra: dict[str, Any] = {"repo_id": f"{s.build.org}/{folder.name}"} if s.build.org else {}
        if result_stats.gold_majority is not None:
            extra["column_docs"] = schema.majority_meanings()
        cards.write_card(folder, kind, result_stats, strategy=strategy, extra=extra or None)
        if written is not None:
            written(name, folder)
