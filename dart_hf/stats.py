"""Build statistics from the data: per level, per strategy; saved as `stats.json` for the cards.

The figures are typed (`BuildStats` and its parts, frozen dataclasses); `BuildStats.to_dict()`
is `stats.json` (schema in docs/DESIGN.md, "Statistics") and `BuildStats.from_dict` reads one
back. `compute_stats` builds them from the final state, the DARS settings, what the releases
measured (`BuildFigures`, from `build.assemble_releases`) and what the run recorded
(`RunRecord`). Levels: GSM8K = 0, MATH 1-5, null for sources without levels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from dart_hf import dars
from dart_hf.assemble import FILTERS
from dart_hf.config import DarsConfig
from dart_hf.dars import State
from dart_hf.errors import DartError
from dart_hf.strategies import STRATEGIES

#: Rows dropped per reason, as the cards count them: dedup and every quality filter of
#: `assemble.FILTERS` (a new filter is counted without a change here).
FILTER_KEYS = ("duplicate", *FILTERS)
HISTOGRAM_BINS = 10

_T = TypeVar("_T")


def _check(cls: type, d: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """`d`, if it holds every field of `cls` that has no default and no other key (else the
    error naming them)."""
    names = [f.name for f in fields(cls)]
    optional = {f.name for f in fields(cls) if f.default is not MISSING}
    missing = [n for n in names if n not in d and n not in optional]
    extra = [k for k in d if k not in names]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(map(str, extra))}"] if extra else []
        )
        raise DartError(f"stats {where}: {'; '.join(parts)}")
    return d


def _flat(cls: type[_T], d: Mapping[str, Any], where: str) -> _T:
    """A flat record (plain fields only) from its mapping."""
    return cls(**_check(cls, d, where))


def _level(lv: Any) -> int | None:
    return None if lv < 0 else int(lv)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Totals:
    """Counts of the whole build."""

    queries: int
    raw_samples: int
    correct_samples: int
    tokens: int
    wall_time_s: float
    rounds: int
    failed_requests: int = 0
    """Requests that came back with no completion (not graded, not in `raw_samples`)."""
    truncated_samples: int = 0
    """Raw samples cut off at `max_tokens` (graded wrong: `grade_status` `truncated`)."""


@dataclass(frozen=True)
class LevelRow:
    """One strategy's figures at one level.

    `no_correct`: queries with no kept response; `below_target`: queries with some, but
    fewer than the target; `budget_short`: queries the budget stopped below their target.
    """

    level: int | None
    queries: int
    mean_responses: float
    coverage: float
    share_at_target: float
    no_correct: int
    below_target: int
    budget_short: int


@dataclass(frozen=True)
class StrategyStats:
    """One strategy's release: its parameters, rows, rows filtered and its per-level rows."""

    params: dict[str, Any]
    rows: int
    filters: dict[str, int]
    decontaminated_queries: int
    per_level: tuple[LevelRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form."""
        return {
            "params": dict(self.params),
            "rows": self.rows,
            "filters": dict(self.filters),
            "decontaminated_queries": self.decontaminated_queries,
            "per_level": [asdict(r) for r in self.per_level],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "strategy") -> StrategyStats:
        """Read the `stats.json` form."""
        d = _check(cls, d, where)
        rows = tuple(_flat(LevelRow, r, f"{where}.per_level") for r in d["per_level"])
        return cls(dict(d["params"]), d["rows"], dict(d["filters"]),
                   d["decontaminated_queries"], rows)  # fmt: skip


@dataclass(frozen=True)
class StopRow:
    """Queries per stop reason at one level (None: no level)."""

    level: int | None
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form: the level, then one key per stop reason."""
        return {"level": self.level, **self.counts}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StopRow:
        """Read the `stats.json` form."""
        return cls(d["level"], {k: v for k, v in d.items() if k != "level"})


@dataclass(frozen=True)
class PriorRow:
    """A level's pass-rate prior at the end, and how its queries with none correct stopped.

    Attributes:
        level: The level (None: queries without one).
        zero, a, b: The fitted prior's summary: mass at p = 0, and the Beta of the same
            mean and variance over the rest.
        first_rows: What a first correct response was worth, in kept rows (median over
            the level's queries stopped by the yield rule with none; else over its stops;
            None: no query of the level stopped).
        no_correct: Queries of the level stopped with none correct (`no_correct`).
        no_correct_samples: Median raw samples of those queries (0: none such).
    """

    level: int | None
    zero: float
    a: float
    b: float
    first_rows: float | None
    no_correct: int
    no_correct_samples: int


@dataclass(frozen=True)
class StatedPrior:
    """The prior as stated in the settings (`prior_zero`, `prior_a`, `prior_b`)."""

    zero: float
    a: float
    b: float


@dataclass(frozen=True)
class YieldRule:
    """The yield rule's settings, the prices it used, and the prior it ended with, per level.

    Attributes:
        min_yield: The stated price (new correct responses per 1,000 samples); None: it
            was derived from `row_loss` every round.
        first_value: The stated value of a first correct response, in units of the
            query's target; None: derived from `coverage_loss` every round.
        row_loss: Share of the rows a run to max_trials would keep that the price may
            give up (projected under the posterior; None: a build from before it).
        coverage_loss: Per level, share of its queries that a run to max_trials would
            cover which may be left without a correct response (projected likewise).
        price_min, price_median, price_max: The price in force when queries were stopped
            below target by the rule (`no_correct`, `low_yield`; all stops when none was).
        horizon: The price's unit: per this many samples.
        prior_fit, stated_prior, prior_per_level: The prior, as stated and per level.
        no_correct_stop: Whether queries with none correct are stopped at all.
    """

    min_yield: float | None
    first_value: float | None
    row_loss: float | None
    coverage_loss: float | None
    price_min: float
    price_median: float
    price_max: float
    horizon: int
    prior_fit: bool
    stated_prior: StatedPrior
    prior_per_level: tuple[PriorRow, ...]
    no_correct_stop: bool

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form."""
        out = asdict(self)
        out["prior_per_level"] = [asdict(r) for r in self.prior_per_level]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> YieldRule:
        """Read the `stats.json` form."""
        d = _check(cls, d, "yield_rule")
        return cls(
            **{
                k: d[k]
                for k in (
                    "min_yield",
                    "first_value",
                    "row_loss",
                    "coverage_loss",
                    "price_min",
                    "price_median",
                    "price_max",
                    "horizon",
                    "prior_fit",
                    "no_correct_stop",
                )
            },
            stated_prior=_flat(StatedPrior, d["stated_prior"], "yield_rule.stated_prior"),
            prior_per_level=tuple(
                _flat(PriorRow, r, "yield_rule.prior_per_level") for r in d["prior_per_level"]
            ),
        )


@dataclass(frozen=True)
class FailRate:
    """Where the fail rates came from and their histogram.

    Attributes:
        phase_samples: Samples per query of the difficulty phase (None: `fail_rate_from`).
        source: `fail_rate_from` (written as `from`), or None.
        edges: Histogram bin edges over [0, 1].
        counts: Queries per bin.
    """

    phase_samples: int | None
    source: str | None
    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form."""
        return {
            "phase_samples": self.phase_samples,
            "from": self.source,
            "histogram": {"edges": list(self.edges), "counts": list(self.counts)},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FailRate:
        """Read the `stats.json` form."""
        hist = d["histogram"]
        return cls(d["phase_samples"], d["from"], tuple(hist["edges"]), tuple(hist["counts"]))


@dataclass(frozen=True)
class GoldLevelRow:
    """Queries per gold status (audit) or gold source (majority) at one level.

    Attributes:
        level: The level as text (`"0"`-`"5"`, `"none"`).
        label: Its label in the cards (`L0 (GSM8K)`, `L5`, `unknown`).
        counts: Queries per status or source.
    """

    level: str
    label: str
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form: level, label, then one key per status."""
        return {"level": self.level, "label": self.label, **self.counts}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GoldLevelRow:
        """Read the `stats.json` form."""
        rest = {k: v for k, v in d.items() if k not in ("level", "label")}
        return cls(d["level"], d["label"], rest)


@dataclass(frozen=True)
class GoldSettings:
    """The gold audit's thresholds (the build settings of the same names)."""

    gold_min_votes: int
    gold_min_share: float
    exclude_disputed: bool


@dataclass(frozen=True)
class GoldAudit:
    """Gold statuses overall and per level, with the audit's thresholds."""

    settings: GoldSettings
    counts: dict[str, int]
    per_level: tuple[GoldLevelRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form: the thresholds at the top, then counts and per level."""
        return {
            **asdict(self.settings),
            "counts": dict(self.counts),
            "per_level": [r.to_dict() for r in self.per_level],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GoldAudit:
        """Read the `stats.json` form."""
        names = [f.name for f in fields(GoldSettings)]
        return cls(
            _flat(GoldSettings, {k: v for k, v in d.items() if k in names}, "gold_audit"),
            dict(d["counts"]),
            tuple(GoldLevelRow.from_dict(r) for r in d["per_level"]),
        )


@dataclass(frozen=True)
class GoldMajority:
    """`gold: majority` builds: the vote's settings and queries per gold source and level
    (`answer`, `majority`, and `no_majority`: left out)."""

    gold: str
    gold_min_votes: int
    gold_min_share: float
    vote_samples: int
    fail_rate_round: int | None
    counts: dict[str, int]
    per_level: tuple[GoldLevelRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form (`gold_majority.majority_stats`)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["counts"] = dict(self.counts)
        out["per_level"] = [r.to_dict() for r in self.per_level]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GoldMajority:
        """Read the `stats.json` form."""
        d = _check(cls, d, "gold_majority")
        return cls(
            gold=d["gold"],
            gold_min_votes=d["gold_min_votes"],
            gold_min_share=d["gold_min_share"],
            vote_samples=d["vote_samples"],
            fail_rate_round=d["fail_rate_round"],
            counts=dict(d["counts"]),
            per_level=tuple(GoldLevelRow.from_dict(r) for r in d["per_level"]),
        )


@dataclass(frozen=True)
class ModelInfo:
    """The synthesis model, as the graded samples record it."""

    model: str | None
    model_hash: str | None
    revision: str | None = None


@dataclass(frozen=True)
class EngineInfo:
    """The inference engine, as the graded samples record it."""

    engine: str | None
    engine_version: str | None


@dataclass(frozen=True)
class BuildStats:
    """Every figure of a build (`stats.json`), read by the cards, plots and the CLI's table.

    Attributes:
        recipe: Every setting of the build after overrides, and the decontamination
            benchmarks (shown verbatim in the cards, secrets scrubbed).
        model: The synthesis model.
        engine: The inference engine.
        sampling: The sampling settings.
        grader: Grader name and versions (`grading.grader_info`).
        totals: Counts of the whole build.
        stop_reasons: Queries per stop reason.
        stop_reasons_per_level: The same per level.
        yield_rule: The stop rule's settings and fitted priors.
        fail_rate: Fail-rate source and histogram.
        strategies: Per strategy (in the settings' order), its release's figures.
        dars: The build's DARS settings: the one place the cards read them from.
        gold_audit: Gold statuses, or None when not audited.
        gold_majority: `gold: majority` builds: the vote's figures, else None (and absent
            from `stats.json`).
        stream: How the rounds went to the engine (`StreamStats`; None when no round
            recorded it).
    """

    recipe: dict[str, Any]
    model: ModelInfo
    engine: EngineInfo
    sampling: dict[str, Any]
    grader: dict[str, Any]
    totals: Totals
    stop_reasons: dict[str, int]
    stop_reasons_per_level: tuple[StopRow, ...]
    yield_rule: YieldRule
    fail_rate: FailRate
    strategies: dict[str, StrategyStats]
    dars: DarsConfig
    gold_audit: GoldAudit | None = None
    gold_majority: GoldMajority | None = None
    stream: StreamStats | None = None

    def to_dict(self) -> dict[str, Any]:
        """`stats.json` (plain JSON types; key order as written)."""
        out: dict[str, Any] = {
            "recipe": self.recipe,
            "model": asdict(self.model),
            "engine": asdict(self.engine),
            "sampling": self.sampling,
            "grader": self.grader,
            "totals": asdict(self.totals),
            "stop_reasons": dict(self.stop_reasons),
            "stop_reasons_per_level": [r.to_dict() for r in self.stop_reasons_per_level],
            "yield_rule": self.yield_rule.to_dict(),
            "fail_rate": self.fail_rate.to_dict(),
            "strategies": {k: v.to_dict() for k, v in self.strategies.items()},
            "dars": asdict(self.dars) | {"strategies": list(self.dars.strategies)},
            "gold_audit": None if self.gold_audit is None else self.gold_audit.to_dict(),
        }
        if self.gold_majority is not None:
            out["gold_majority"] = self.gold_majority.to_dict()
        if self.stream is not None:
            out["stream"] = asdict(self.stream)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BuildStats:
        """Read `stats.json` (as `to_dict` writes it).

        Raises:
            DartError: A part is missing or holds keys its record does not have (the
                message names the part).
        """
        try:
            audit, majority = d.get("gold_audit"), d.get("gold_majority")
            try:
                config = DarsConfig(**d["dars"])
            except TypeError as exc:
                raise DartError(f"stats dars: {exc}") from None
            return cls(
                recipe=d["recipe"],
                model=_flat(ModelInfo, d["model"], "model"),
                engine=_flat(EngineInfo, d["engine"], "engine"),
                sampling=d["sampling"],
                grader=d["grader"],
                totals=_flat(Totals, d["totals"], "totals"),
                stop_reasons=dict(d["stop_reasons"]),
                stop_reasons_per_level=tuple(
                    StopRow.from_dict(r) for r in d["stop_reasons_per_level"]
                ),
                yield_rule=YieldRule.from_dict(d["yield_rule"]),
                fail_rate=FailRate.from_dict(d["fail_rate"]),
                strategies={
                    k: StrategyStats.from_dict(v, f"strategies.{k}")
                    for k, v in d["strategies"].items()
                },
                dars=config,
                gold_audit=None if audit is None else GoldAudit.from_dict(audit),
                gold_majority=None if majority is None else GoldMajority.from_dict(majority),
                stream=None if d.get("stream") is None else _flat(StreamStats, d["stream"],
                                                                    "stream"),
            )  # fmt: skip
        except KeyError as exc:
            raise DartError(f"stats: missing {exc.args[0]}") from None


@dataclass(frozen=True)
class StreamStats:
    """How the build's rounds went to the engine, summed over its rounds (`meta.json`).

    Attributes:
        max_in_flight: The cap on requests in flight (None: shard by shard, no stream).
        seeding: "per round" (the engine reseeded when a round's stream opens: vLLM) or
            "per request" (each request carries its shard's seed).
        requests: Requests sent to the engine.
        engine_idle_s: Wall time with free slots in flight and no request waiting.
        slot_share: Mean share of the engine's slots in use, where the engine reports it.
        grading_wait_s: Time from a round's last completion to the end of its grading.
        overlap: Whether finished shards were graded while others generated.
    """

    max_in_flight: int | None
    seeding: str | None
    requests: int
    engine_idle_s: float
    slot_share: float | None
    grading_wait_s: float
    overlap: bool | None

    @classmethod
    def from_metas(cls, metas: list[dict[str, Any]]) -> StreamStats | None:
        """The build's figures from its rounds' metas (None when no round recorded any)."""
        streamed = [m for m in metas if "grading_wait_s" in m]
        if not streamed:
            return None
        caps = [int(m["max_in_flight"]) for m in streamed if m.get("max_in_flight")]
        shares = [
            (m["slot_share"], m.get("requests", 0))
            for m in streamed
            if m.get("slot_share") is not None
        ]
        weight = sum(w for _, w in shares)
        overlaps = {m.get("overlap") for m in streamed}
        return cls(
            max_in_flight=max(caps) if caps else None,
            seeding=next((m["seeding"] for m in streamed if m.get("seeding")), None),
            requests=int(sum(m.get("requests", 0) for m in streamed)),
            engine_idle_s=round(sum(m.get("engine_idle_s", 0.0) for m in streamed), 3),
            slot_share=round(sum(x * w for x, w in shares) / weight, 4) if weight else None,
            grading_wait_s=round(sum(m.get("grading_wait_s", 0.0) for m in streamed), 3),
            overlap=overlaps.pop() if len(overlaps) == 1 else None,
        )


@dataclass(frozen=True)
class BuildFigures:
    """What assembling the releases measured (`build.assemble_releases`).

    Attributes:
        kept: Released responses per query (state order) for every strategy.
        rows: Rows of every release.
        filters: Rows dropped per reason (`duplicate` and the quality filters).
        excluded: Decontaminated queries (state order).
        correct_samples: Correct raw samples.
        benchmarks: The benchmarks decontaminated against.
        gold_status: Gold audit status per query (state order), None if not audited.
        gold_votes: `gold: majority` builds: the vote table (`id`, `gold_source`, ...).
        truncated_samples: Raw samples cut off at `max_tokens`.
    """

    kept: dict[str, np.ndarray]
    rows: dict[str, int]
    filters: dict[str, int]
    excluded: np.ndarray
    correct_samples: int
    benchmarks: list[str]
    gold_status: list[str] | None = None
    gold_votes: dict[str, list[Any]] | None = None
    truncated_samples: int = 0


@dataclass(frozen=True)
class RunRecord:
    """What the run itself recorded, beside the releases' figures (`build.release_stats`).

    Attributes:
        recipe: Every setting of the build after overrides.
        sampling: Sampling settings.
        grader: Grader name and versions.
        model: The synthesis model.
        engine: The inference engine.
        tokens: Generated tokens over all raw samples.
        wall_time_s: Wall time of the build (summed over resumed runs).
        rounds: Rounds run.
        gold: The gold audit's thresholds (None: not audited).
        gold_majority: `gold: majority` builds: the vote's figures
            (`gold_majority.majority_stats`); the queries it left out (`no_majority`) are left
            out of the per-level figures too.
        stream: How the rounds went to the engine (`StreamStats.from_metas`).
    """

    recipe: dict[str, Any]
    sampling: dict[str, Any]
    grader: dict[str, Any]
    model: ModelInfo
    engine: EngineInfo
    tokens: int
    wall_time_s: float
    rounds: int
    gold: GoldSettings | None = None
    gold_majority: GoldMajority | None = None
    stream: StreamStats | None = None


# --------------------------------------------------------------------------- figures


def strategy_params(name: str, config: DarsConfig) -> dict[str, Any]:
    """The parameters that define a strategy's release (`Strategy.card_params`)."""
    return STRATEGIES[name].card_params(config)


def per_level(
    state: State, kept: np.ndarray, at_target: np.ndarray, excluded: np.ndarray
) -> tuple[LevelRow, ...]:
    """Per level: queries, mean kept responses, coverage, share at target, what was left short.

    Decontaminated queries (`excluded`) are left out of every figure.
    """
    levels = state["level"]
    budget = state["stop_reason"] == "budget"
    out = []
    for lv in sorted(set(levels[~excluded].tolist())):
        m = (levels == lv) & ~excluded
        n = int(m.sum())
        out.append(
            LevelRow(
                level=_level(lv),
                queries=n,
                mean_responses=round(float(kept[m].mean()), 4) if n else 0.0,
                coverage=round(float((kept[m] >= 1).mean()), 4) if n else 0.0,
                share_at_target=round(float(at_target[m].mean()), 4) if n else 0.0,
                no_correct=int((m & (kept == 0)).sum()),
                below_target=int((m & (kept > 0) & ~at_target).sum()),
                budget_short=int((m & budget & ~at_target).sum()),
            )
        )
    return tuple(out)


def stops_per_level(state: State) -> tuple[StopRow, ...]:
    """Queries per stop reason and level (null: the query has no level)."""
    levels = state["level"]
    return tuple(
        StopRow(_level(lv), dars.stop_counts(state["stop_reason"][levels == lv]))
        for lv in sorted(set(levels.tolist()))
    )


def yield_rule(state: State, config: DarsConfig) -> YieldRule:
    """The yield rule's settings, prices and the prior it ended with, per level (cards)."""
    zero, a, b = dars.priors(state, config)
    levels = state["level"]
    n = len(levels)
    reason = state["stop_reason"]
    price = np.asarray(state.get("stop_price", np.full(n, np.nan)), dtype=np.float64)
    first = np.asarray(state.get("stop_first_rows", np.full(n, np.nan)), dtype=np.float64)
    given_up = np.isin(reason.astype(str), dars.GIVEN_UP)
    none = reason == "no_correct"
    prior = []
    for lv in sorted(set(levels.tolist())):
        at = levels == lv
        i = int(np.flatnonzero(at)[0])
        pick = first[at & none] if (at & none).any() else first[at]
        pick = pick[np.isfinite(pick)]
        prior.append(
            PriorRow(
                level=_level(lv),
                zero=round(float(zero[i]), 4),
                a=round(float(a[i]), 4),
                b=round(float(b[i]), 4),
                first_rows=round(float(np.median(pick)), 2) if len(pick) else None,
                no_correct=int((at & none).sum()),
                no_correct_samples=(
                    int(np.median(state["samples"][at & none])) if (at & none).any() else 0
                ),
            )
        )
    spread = price[given_up] if given_up.any() else price
    spread = spread[np.isfinite(spread)]
    if not len(spread):
        spread = np.asarray([config.min_yield if config.min_yield is not None else np.nan])
    return YieldRule(
        min_yield=config.min_yield,
        first_value=config.first_value,
        row_loss=config.row_loss,
        coverage_loss=config.coverage_loss,
        price_min=round(float(spread.min()), 3),
        price_median=round(float(np.median(spread)), 3),
        price_max=round(float(spread.max()), 3),
        horizon=dars.HORIZON,
        prior_fit=config.prior_fit,
        stated_prior=StatedPrior(config.prior_zero, config.prior_a, config.prior_b),
        prior_per_level=tuple(prior),
        no_correct_stop=config.no_correct_stop,
    )


def compute_stats(
    state: State, config: DarsConfig, figures: BuildFigures, run: RunRecord
) -> BuildStats:
    """The statistics of a build (`stats.json` is their `to_dict()`).

    Args:
        state: Final per-query state.
        config: DARS settings of the build.
        figures: What assembling the releases measured.
        run: What the run recorded (settings, provenance, tokens, time, gold settings).
    """
    fr = state["fail_rate"]
    counts, edges = np.histogram(fr[~np.isnan(fr)], bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    excluded = np.asarray(figures.excluded, dtype=bool)
    # queries left out for want of a gold (`gold: majority`) are in no figure
    left_out = np.asarray(state["stop_reason"], dtype=object) == "no_majority"
    unfigured = excluded | left_out
    strategies: dict[str, StrategyStats] = {}
    for name in config.strategies:
        k = figures.kept[name]
        at_target = STRATEGIES[name].at_target(
            k, state[f"target_{name}"], state["samples"], config.max_trials
        )
        strategies[name] = StrategyStats(
            params=strategy_params(name, config),
            rows=int(figures.rows[name]),
            filters={key: int(figures.filters.get(key, 0)) for key in FILTER_KEYS},
            decontaminated_queries=int(excluded.sum()),
            per_level=per_level(state, k, at_target, unfigured),
        )
    return BuildStats(
        recipe=run.recipe,
        model=run.model,
        engine=run.engine,
        sampling=run.sampling,
        grader=run.grader,
        totals=Totals(
            queries=len(state["id"]),
            raw_samples=int(state["samples"].sum()),
            correct_samples=int(figures.correct_samples),
            tokens=int(run.tokens),
            wall_time_s=round(float(run.wall_time_s), 2),
            rounds=int(run.rounds),
            failed_requests=int(np.sum(state.get("failed", 0))),
            truncated_samples=int(figures.truncated_samples),
        ),
        stop_reasons=dars.stop_counts(state["stop_reason"]),
        stop_reasons_per_level=stops_per_level(state),
        yield_rule=yield_rule(state, config),
        fail_rate=FailRate(
            phase_samples=config.difficulty_samples if not config.fail_rate_from else None,
            source=config.fail_rate_from,
            edges=tuple(edges.round(4).tolist()),
            counts=tuple(counts.tolist()),
        ),
        strategies=strategies,
        dars=config,
        gold_audit=gold_audit_stats(state, figures.gold_status, run.gold),
        gold_majority=run.gold_majority,
        stream=run.stream,
    )


def gold_audit_stats(
    state: State, gold_status: list[str] | None, settings: GoldSettings | None
) -> GoldAudit | None:
    """Gold statuses overall and per level (level label as in the cards), or None."""
    if gold_status is None or settings is None:
        return None
    from dart_hf.gold_audit import GOLD_STATUSES, counts_by_level

    audited = [(g, int(lv)) for g, lv in zip(gold_status, state["level"], strict=True) if g]
    gold_status = [g for g, _ in audited]  # majority golds (`gold: majority`) are not audited
    by_level = counts_by_level(gold_status, [lv for _, lv in audited])
    return GoldAudit(
        settings=settings,
        counts={g: gold_status.count(g) for g in GOLD_STATUSES},
        per_level=tuple(
            GoldLevelRow(key, _gold_level_label(key), dict(row)) for key, row in by_level.items()
        ),
    )


def _gold_level_label(key: str) -> str:
    if key == "none":
        return "unknown"
    return "L0 (GSM8K)" if key == "0" else f"L{key}"


# --------------------------------------------------------------------------- files and table


def save_stats(stats: BuildStats, path: str | Path) -> None:
    """Write `stats.json` (atomically)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_stats(path: str | Path) -> BuildStats:
    """Read a `stats.json`."""
    return BuildStats.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def format_table(stats: BuildStats) -> str:
    """A plain-text table of the statistics, for the CLI to print.

    Per strategy and level: mean responses per query beside the paper's released set's,
    coverage, share at target, and the queries left with none / below target with some.
    """
    lines = [
        f"{'strategy':<10} {'level':>5} {'queries':>7} {'resp/q':>7} {'paper':>7} "
        f"{'coverage':>8} {'at target':>9} {'none':>6} {'below t':>7}"
    ]
    for name, s in stats.strategies.items():
        paper = STRATEGIES[name].paper_mean_responses if name in STRATEGIES else None
        for row in s.per_level:
            lv = row.level
            ref = f"{paper[lv]:.2f}" if paper and lv is not None and 0 <= lv <= 5 else "-"
            lines.append(
                f"{name:<10} {'-' if lv is None else str(lv):>5} {row.queries:>7} "
                f"{row.mean_responses:>7.2f} {ref:>7} {row.coverage:>8.1%} "
                f"{row.share_at_target:>9.1%} {row.no_correct:>6} {row.below_target:>7}"
            )
        lines.append(f"{name:<10} {'rows':>5} {s.rows:>7}")
    t = stats.totals
    lines.append(
        f"queries {t.queries}, raw samples {t.raw_samples} "
        f"({t.correct_samples} correct), tokens {t.tokens}, rounds {t.rounds}, "
        f"wall {t.wall_time_s:.0f} s"
    )
    lines.append("stop reasons: " + ", ".join(f"{k} {v}" for k, v in stats.stop_reasons.items()))
    if stats.gold_majority is not None:
        c = stats.gold_majority.counts
        lines.append(
            f"golds: {c['majority']} majority votes (model votes, not verified), "
            f"{c['answer']} from the pool, {c['no_majority']} queries left out (no clear majority)"
        )
    first = next(iter(stats.strategies.values()), None)
    if first:
        lines.append(
            "filters: "
            + ", ".join(f"{k} {v}" for k, v in first.filters.items())
            + f"; decontaminated queries {first.decontaminated_queries}"
        )
    return "\n".join(lines)
