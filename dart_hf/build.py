"""`dart-hf build`: one pool of graded raw samples, assembled into every requested release.

Round 0 is the difficulty phase (`difficulty_samples` per query, or fail rates loaded from an
earlier run); fail rates are then frozen and targets set. With `gold: majority` round 0 is a
vote phase whose majority answers become the golds of rows without one (`gold_majority.py`),
and round 1 is the difficulty phase. Every later round filters the open
queries, asks the scheduler for per-query counts (`n_samples`, `sample_offset`), samples them
(`sampling.run_sampling` into `rounds/round-XXX/`), grades them, updates the counts and applies
the stop rules before the next round is scheduled. The state is saved after every round
(`state/round-XXX.parquet`); the same command on the same `--out` resumes from the last
finished round, and `run_sampling` resumes the shards of an unfinished one.
"""

from __future__ import annotations

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

from dart_hf import assemble, benchmarks, dars, outputs, schema, stats
from dart_hf.arrow_io import write_arrow
from dart_hf.config import (
    BuildConfig,
    DarsConfig,
    GradeConfig,
    SamplingConfig,
    build_dataclass,
    resolve_section,
)
from dart_hf.engines.base import EngineSpec
from dart_hf.errors import DartError
from dart_hf.executors import Executor, ExecutorSpec, make_executor
from dart_hf.stats import BuildStats
from dart_hf.strategies import POOL, STRATEGIES

logger = logging.getLogger(__name__)

POOL_RELEASE = "dart-math-pool"
GRADED = "graded.arrow"  # Arrow IPC stream: datasets memory-maps it as is
RECORD = "build.json"  # what made the folder: settings, grader, queries (outputs.check_fingerprint)
STAGING = ".staging"  # releases are written here, then renamed into releases/
REGRADING = ".regrade"  # `dart-hf regrade` stages its files here, then moves them in
NOT_FINGERPRINTED = frozenset({"push", "org", "num_proc"})
"""Settings that change no output file (cards are re-rendered on every run)."""


@dataclass(frozen=True)
class BuildSettings:
    """Every setting of a build, validated."""

    build: BuildConfig
    dars: DarsConfig
    sampling: SamplingConfig
    grade: GradeConfig

    @classmethod
    def from_dict(cls, settings: dict[str, Any], where: str = "build settings") -> BuildSettings:
        """Build from a flat settings mapping (recipe after overrides; see `resolve_settings`)."""
        return cls(
            build=build_dataclass(BuildConfig, settings, where),
            dars=build_dataclass(DarsConfig, settings, where),
            sampling=build_dataclass(SamplingConfig, settings, where),
            grade=build_dataclass(GradeConfig, settings, where),
        )

    @property
    def grading(self) -> GradeConfig:
        """The grading settings a build uses: `require_anchor` null takes the sampling
        template's record (`deepseekmath`, `chat` ask for an anchored answer)."""
        from dart_hf.prompts import get_template

        if self.grade.require_anchor is not None:
            return self.grade
        anchored = get_template(self.sampling.template).anchored
        return replace(self.grade, require_anchor=anchored)

    def to_dict(self) -> dict[str, Any]:
        """Flat plain form, as saved to `recipe.yaml`."""
        out: dict[str, Any] = {}
        for part in (self.build, self.dars, self.sampling, self.grade):
            out.update(asdict(part))
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
    for c in (BuildConfig, DarsConfig, SamplingConfig, GradeConfig)
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
    from dart_hf import sources

    ds = sources.load_pools(  # ids unique across pools
        cfg.pool, data_dir=cfg.data_dir, query_column=cfg.query_column,
        answer_column=cfg.answer_column,
    )  # fmt: skip
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
            "their first samples", len(missing), len(ds),
        )  # fmt: skip
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
            len(missing), ds[missing[0]]["id"],
        )  # fmt: skip
        drop = set(missing)
        ds = ds.select([i for i in range(len(ds)) if i not in drop])
    return ds


def _open_rows(n_samples: int) -> bool:
    return n_samples > 0


def _round_dir(out: Path, r: int) -> Path:
    return out / "rounds" / f"round-{r:03d}"


def _state_path(out: Path, r: int) -> Path:
    return out / "state" / f"round-{r:03d}.parquet"


def last_round(out: Path) -> int:
    """Index of the last finished round in `out` (-1 when none)."""
    done = sorted((out / "state").glob("round-*.parquet"))
    return int(done[-1].stem.split("-")[1]) if done else -1


def _has_work(out: Path) -> bool:
    return any((out / "rounds").glob("round-*/shard-*.parquet")) or last_round(out) >= 0


LATER_SETTINGS: dict[str, Any] = {
    "gold": "answer",
    "query_column": None,
    "answer_column": None,
    "require_anchor": None,
}
"""Settings added after build folders existed, with their defaults: at the default they are
left out of the fingerprint, so those folders still resume."""


def fingerprint(settings: dict[str, Any], queries: Dataset) -> dict[str, Any]:
    """What makes a build: its settings, the grader, and a content hash of the queries and of
    their gold answers (a pool whose golds changed under the same ids is a different build)."""
    from dart_hf.grading import grader_info

    return {
        "settings": {
            k: v
            for k, v in settings.items()
            if k not in NOT_FINGERPRINTED and not (k in LATER_SETTINGS and v == LATER_SETTINGS[k])
        },
        "grader": grader_info(),
        "data": outputs.data_fingerprint(queries),
    }


def _check_recipe(out: Path, settings: dict[str, Any], queries: Dataset) -> None:
    """Record what makes this build in `out`, or refuse a rerun made with anything else."""
    if (out / REGRADING).is_dir():  # its files are half moved in: finish it before sampling on
        raise DartError(
            f"{out}: a regrade was interrupted; run `dart-hf regrade {out}` to finish it"
        )
    record = out / RECORD
    if not record.is_file() and (out / "recipe.yaml").is_file() and _has_work(out):
        raise DartError(
            f"{out} holds a build from an older dart-hf that did not record its grader and "
            f"queries ({RECORD} is missing); use a new --out"
        )
    status = outputs.check_fingerprint(
        record, fingerprint(settings, queries), what="a build", has_work=lambda: _has_work(out),
        remedy="use a new --out", regradable=("grader",),
        regrade_remedy=f"run `dart-hf regrade {out}` to grade its samples again with the current "
        "grader (then this command continues the build where new targets need more samples)",
    )  # fmt: skip
    if status == "replaced":  # an earlier run that finished nothing: its derived files go too
        (out / "scripted-table.parquet").unlink(missing_ok=True)
    outputs.atomic_write(out / "recipe.yaml", yaml.safe_dump(settings, sort_keys=True))


def engine_spec(cfg: BuildConfig, out: Path, queries: Dataset) -> EngineSpec:
    """The engine spec; the scripted engine gets a query/answer table written from the pool."""
    options = dict(cfg.engine_options)
    if cfg.engine == "scripted" and "table" not in options:
        table = out / "scripted-table.parquet"
        if not table.is_file():
            cols = [
                c for c in ("query", "answer", "solution", "level") if c in queries.column_names
            ]
            queries.select_columns(cols).to_parquet(str(table))
        options["table"] = str(table)
    return cfg.engine_spec(**options)


def _run_round(
    r: int,
    queries: Dataset,
    state: dars.State,
    n: np.ndarray,
    out: Path,
    spec: EngineSpec,
    s: BuildSettings,
    progress: bool,
    executor: Executor,
) -> tuple[Dataset, dict[str, Any]]:
    """Sample and grade one round (resuming its shards); returns graded rows and round meta."""
    folder = _round_dir(out, r)
    graded_path = folder / GRADED
    meta_path = folder / "meta.json"
    if graded_path.is_file() and meta_path.is_file():
        graded = Dataset.from_file(str(graded_path))
        return graded, json.loads(meta_path.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    todo = queries.add_column("n_samples", n.tolist()).add_column(
        "sample_offset", state["samples"].tolist()
    )
    todo = todo.filter(_open_rows, input_columns="n_samples", desc=f"round {r}: open queries")
    raw = executor.sample(
        todo, folder, engine_spec=spec, sampling=s.sampling, round=r, seed=s.build.seed,
        shard_size=s.build.shard_size, progress=progress,
    )  # fmt: skip
    graded = executor.grade(raw, s.grading)
    write_arrow(graded, graded_path)
    meta = {
        "round": r,
        "queries": len(todo),
        "raw_samples": len(graded),
        "tokens": int(np.sum(graded["n_tokens"])) if len(graded) else 0,
        "wall_time_s": round(time.perf_counter() - t0, 3),
    }
    meta_path.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    return Dataset.from_file(str(graded_path)), meta


GRADE_COLUMNS = ("pred", "correct", "grade_status", "verdict_source")
"""The columns `grading.grade_batch` adds."""


def read_majority_table(out: Path) -> dict[str, list[Any]]:
    """The votes of a `gold: majority` build (`gold_majority.TABLE`)."""
    from dart_hf import gold_majority

    path = out / gold_majority.TABLE
    if not path.is_file():
        raise DartError(f"{out}: the vote phase's golds ({path.name}) are missing; use a new --out")
    return pq.read_table(path).to_pydict()


def with_majority_golds(out: Path, queries: Dataset) -> Dataset:
    """The queries with the golds of the build's vote phase (`queries` unchanged without one)."""
    from dart_hf import gold_majority

    if not (out / gold_majority.TABLE).is_file():
        return queries
    return gold_majority.apply_golds(queries, gold_majority.golds_of(read_majority_table(out)))


def vote_phase(
    out: Path, queries: Dataset, graded: Dataset, s: BuildSettings, executor: Executor
) -> tuple[Dataset, Dataset]:
    """Golds for the queries without one from the vote round's samples, then that round
    graded again against them. Returns the regraded round and the queries with their golds.

    The votes are saved (`gold_majority.TABLE`) before the round is regraded, and regrading
    is skipped once done, so a build killed anywhere in between resumes to the same result.
    """
    from dart_hf import gold_audit, gold_majority

    path = out / gold_majority.TABLE
    if not path.is_file():
        needs = [q for q, a in zip(queries["id"], queries["answer"], strict=True)
                 if not (a or "").strip()]  # fmt: skip
        config = gold_audit.GoldAuditConfig(s.build.gold_min_votes, s.build.gold_min_share)
        votes = gold_majority.vote(graded, needs, config, timeout=max(1, int(s.grade.timeout_s)))
        schema = pa.schema([("id", pa.string()), ("gold_source", pa.string()),
                            ("gold_majority", pa.string()), ("gold_majority_votes", pa.int64()),
                            ("gold_voters", pa.int64())])  # fmt: skip
        tmp = path.with_name(path.name + ".tmp")
        with outputs.disk_full(path, tmp):
            pq.write_table(pa.table(votes, schema=schema), tmp)
            tmp.replace(path)
        left = votes["gold_source"].count(None)
        logger.info("vote phase: %d golds from majority votes, %d queries without a clear "
                    "majority left out", len(needs) - left, left)  # fmt: skip
    golds = gold_majority.golds_of(read_majority_table(out))
    rows = graded.data.table.select(["id", "answer"])
    pending = pc.and_(pc.is_in(rows["id"], value_set=pa.array(list(golds), pa.string())),
                      pc.equal(rows["answer"], ""))  # fmt: skip
    if golds and pc.any(pending).as_py():
        fresh = graded.remove_columns([c for c in GRADE_COLUMNS if c in graded.column_names])
        regraded = executor.grade(gold_majority.apply_golds(fresh, golds), s.grading)
        target = _round_dir(out, gold_majority.VOTE_ROUND) / GRADED
        write_arrow(regraded, target)
        graded = Dataset.from_file(str(target))
    return graded, gold_majority.apply_golds(queries, golds)


def run_rounds(
    queries: Dataset,
    out: Path,
    s: BuildSettings,
    spec: EngineSpec,
    progress: bool = False,
    executor: Executor | None = None,
) -> dars.State:
    """Run (or resume) rounds until every query has a stop reason; returns the final state.

    The executor (local by default, or Ray) only decides where sampling and grading run:
    files, counts, stop rules and resume are the same with either.
    """
    from dart_hf import gold_majority

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
    position = {q: i for i, q in enumerate(ids)}
    prev = last_round(out)
    if majority and prev >= gold_majority.VOTE_ROUND:
        queries = with_majority_golds(out, queries)
    if prev >= 0:
        state = dars.load_state(_state_path(out, prev))
        if list(state["id"]) != list(ids):
            raise DartError(f"{out}: saved state does not match the query pool; use a new --out")
    else:
        state = dars.new_state(ids, queries["level"], queries["source"])
        if cfg.fail_rate_from:
            fr, frs = dars.load_fail_rates(cfg.fail_rate_from, ids)
            state = dars.freeze_difficulty(state, cfg, fr, frs)
        elif cfg.budget is not None and cfg.budget < phases * len(ids) * cfg.difficulty_samples:
            raise DartError(
                f"budget {cfg.budget} is below the difficulty phase "
                f"({phases} x {len(ids)} queries x {cfg.difficulty_samples} samples)"
            )
    r = prev + 1
    while not state["done"].all():
        vote = majority and r == gold_majority.VOTE_ROUND
        phase = not cfg.fail_rate_from and r == (gold_majority.FAIL_RATE_ROUND if majority else 0)
        if vote or phase:
            n = np.where(state["done"], 0, cfg.difficulty_samples).astype(np.int64)
        else:
            n = dars.schedule(state, cfg, dars.budget_left(state, cfg))
            if not n.any():  # nothing left to spend: close every open query
                state = dars.apply_stop_rules(state, cfg, budget_left=0)
                dars.save_state(state, _state_path(out, r))
                break
        graded, _ = _run_round(r, queries, state, n, out, spec, s, progress, executor)
        if vote:  # golds from the votes; the round is graded again against them
            graded, queries = vote_phase(out, queries, graded, s, executor)
        before = state
        index = np.asarray([position[q] for q in graded["id"]], dtype=np.int64)
        state = dars.update_counts(state, index, graded["correct"], r)
        if vote:
            state = gold_majority.leave_out(state, read_majority_table(out))
        if phase:
            state = (
                gold_majority.freeze_phase(state, before, cfg)
                if majority
                else dars.freeze_difficulty(state, cfg)
            )
        if not (vote and not cfg.fail_rate_from):  # no targets before the fail-rate phase
            state = dars.apply_stop_rules(state, cfg, dars.budget_left(state, cfg))
        dars.save_state(state, _state_path(out, r))
        logger.info(
            "round %d: %d samples, %d queries open", r, len(graded), int((~state["done"]).sum())
        )
        r += 1
    return state


def graded_pool(out: Path) -> Dataset:
    """Every graded raw sample of the build, in round order (memory-mapped)."""
    files = sorted(str(p) for p in (out / "rounds").glob(f"round-*/{GRADED}"))
    if not files:
        raise DartError(f"{out}: no graded rounds")
    parts = [Dataset.from_file(f) for f in files]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def decontamination_mask(queries: list[str], cfg: BuildConfig) -> tuple[np.ndarray, list[str]]:
    """Queries overlapping any available benchmark's test questions, and the benchmarks used."""
    from dart_hf import sources

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
    """`gold_audit.audit_pool` over the samples of the queries without a correct one."""
    from dart_hf import gold_audit

    ids = list(state["id"])
    unsolved = pa.array([q for q, c in zip(ids, state["corrects"], strict=True) if c == 0])
    cols = ["id", "pred", "correct", "grade_status", "verdict_source"]
    table = pool.data.table.select(cols) if len(unsolved) else None
    if table is not None:
        table = table.filter(pc.is_in(table["id"], value_set=unsolved))
    sub = table.to_pydict() if table is not None else {c: [] for c in cols}
    config = gold_audit.GoldAuditConfig(cfg.gold_min_votes, cfg.gold_min_share,
                                        cfg.exclude_disputed)  # fmt: skip
    return gold_audit.audit_pool(
        ids, sub["id"], sub["pred"], sub["correct"], sub["grade_status"], config,
        sources=sub["verdict_source"],
    )  # fmt: skip


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
    out: Path,
    queries: Dataset,
    state: dars.State,
    s: BuildSettings,
    into: Path | None = None,
    pool: Dataset | None = None,
) -> tuple[dict[str, Path], stats.BuildFigures]:
    """Write every release folder; return them and the figures the statistics need.

    Args:
        into: Folder the releases are written to (default `out/releases`); `run_build`
            stages them in `out/releases/.staging` and renames each one in when its card is
            written, so a release is complete or absent.
        pool: The graded samples (default: `graded_pool(out)`; `dart-hf regrade` passes the
            samples it graded again, before they replace the build's).
    """
    from dart_hf import hub

    into = into or out / "releases"
    pool = graded_pool(out) if pool is None else pool
    ids = list(state["id"])
    excluded, used = decontamination_mask(queries["query"], s.build)
    audit = gold_audit_columns(pool, state, s.build)
    votes = None
    if s.build.gold == "majority":  # the golds of the vote phase, and its votes per query
        from dart_hf import gold_majority

        queries = with_majority_golds(out, queries)
        votes = read_majority_table(out)
        audit = gold_majority.audit_columns(audit, ids, votes)
    disputed = np.array([g == "disputed" for g in audit["gold_status"]], dtype=bool)
    drop_disputed = s.build.exclude_disputed and bool(disputed.any())
    sel = assemble.select(pool, ids, excluded=excluded | disputed if drop_disputed else excluded)
    # why each sample can be in no release, stored with the pool's samples
    samples = pool.add_column("drop_reason", sel.drop_reason())
    check_pool_schema(out, samples)
    if drop_disputed:  # the pool release leaves out the samples of disputed queries
        gone = pa.array([q for q, d in zip(ids, disputed, strict=True) if d])
        keep = pc.invert(pc.is_in(pool.data.table["id"], value_set=gone))
        samples = samples.select(np.flatnonzero(keep.to_numpy(zero_copy_only=False)))
    fail_rate = {
        q: (None if np.isnan(f) else float(f))
        for q, f in zip(ids, state["fail_rate"], strict=False)
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
        folder = into / STRATEGIES[name].release
        hub.write_hub_folder({"default": ds}, folder)
        releases[name] = folder
        del ds
    folder = into / POOL_RELEASE
    hub.write_hub_folder(
        {"samples": samples, "queries": query_info(queries, state, kept, excluded, audit)},
        folder,
    )
    releases[POOL] = folder
    figures = stats.BuildFigures(
        kept=kept,
        rows=rows,
        filters=filters,
        excluded=excluded,
        correct_samples=int(np.sum(state["corrects"])),
        benchmarks=used,
        gold_status=audit["gold_status"],
        gold_votes=votes,
    )
    return releases, figures


def _round_meta(out: Path) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((out / "rounds").glob("round-*/meta.json"))
    ]


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
    from dart_hf.engines import check_model

    s = BuildSettings.from_dict(settings)
    check_model(s.build.engine, s.build.model)
    out = Path(out)
    queries = load_queries(s.build)
    with outputs.folder_lock(out, "build"), outputs.disk_full(out, out):
        return _run_build(s, out, queries, progress, executor)


def _run_build(
    s: BuildSettings,
    out: Path,
    queries: Dataset,
    progress: bool,
    executor: ExecutorSpec | None,
) -> BuildResult:
    from dart_hf.push import push_folders

    recipe = s.to_dict()
    _check_recipe(out, recipe, queries)
    outputs.remove_temp(out)  # left by a killed run (we hold the lock: nobody else writes)
    spec = engine_spec(s.build, out, queries)
    state = run_rounds(
        queries, out, s, spec, progress=progress,
        executor=make_executor(executor or ExecutorSpec()),
    )  # fmt: skip
    staging = out / "releases" / STAGING
    releases, fig = assemble_releases(out, queries, state, s, into=staging)
    result_stats = release_stats(out, s, recipe, state, fig)
    stats.save_stats(result_stats, out / "stats.json")
    final: dict[str, Path] = {}

    def move_in(name: str, folder: Path) -> None:  # each release lands once its card is written
        final[name] = out / "releases" / folder.name
        outputs.replace_folder(folder, final[name])

    write_cards(releases, result_stats, s, written=move_in)
    staging.rmdir()
    if s.build.push:
        push_folders(list(final.values()), org=s.build.org)  # names every one not pushed
    return BuildResult(out=out, stats=result_stats, releases=final)


def release_stats(
    out: Path,
    s: BuildSettings,
    recipe: dict[str, Any],
    state: dars.State,
    fig: stats.BuildFigures,
) -> BuildStats:
    """`stats.json` of a build: the final state, the figures of `assemble_releases`, the
    rounds' tokens and wall time, the engine's provenance and the current grader."""
    from dart_hf.grading import grader_info

    meta = _round_meta(out)
    first = Dataset.from_file(str(_round_dir(out, 0) / GRADED)).select(range(1)).to_list()
    prov = {k: (first[0].get(k) if first else None)
            for k in ("engine", "engine_version", "model", "model_hash")}  # fmt: skip
    majority = None
    if fig.gold_votes is not None:
        from dart_hf import gold_majority

        majority = stats.GoldMajority.from_dict(gold_majority.majority_stats(
            list(state["id"]), [int(lv) for lv in state["level"]], fig.gold_votes,
            {"gold": s.build.gold, "gold_min_votes": s.build.gold_min_votes,
             "gold_min_share": s.build.gold_min_share,
             "vote_samples": s.dars.difficulty_samples,
             "fail_rate_round": None if s.dars.fail_rate_from else gold_majority.FAIL_RATE_ROUND},
        ))  # fmt: skip
    run = stats.RunRecord(
        recipe=recipe | {"decontamination_benchmarks": fig.benchmarks},
        sampling=asdict(s.sampling),
        grader=grader_info(),
        model=stats.ModelInfo(prov["model"], prov["model_hash"]),
        engine=stats.EngineInfo(prov["engine"], prov["engine_version"]),
        tokens=sum(m["tokens"] for m in meta),
        wall_time_s=sum(m["wall_time_s"] for m in meta),
        rounds=len(meta),
        gold=stats.GoldSettings(
            s.build.gold_min_votes, s.build.gold_min_share, s.build.exclude_disputed
        ),
        gold_majority=majority,
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
    from dart_hf import cards

    for name, folder in releases.items():
        kind = STRATEGIES[name].card if name in STRATEGIES else POOL
        strategy = name if name in STRATEGIES else s.dars.strategies[0]
        extra: dict[str, Any] = {"repo_id": f"{s.build.org}/{folder.name}"} if s.build.org else {}
        if result_stats.gold_majority is not None:
            extra["column_docs"] = schema.majority_meanings()
        cards.write_card(folder, kind, result_stats, strategy=strategy, extra=extra or None)
        if written is not None:
            written(name, folder)
