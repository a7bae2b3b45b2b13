"""Build statistics from the data: per level, per strategy; saved as `stats.json` for the cards.

The figures are typed (`BuildStats` and its parts, frozen dataclasses); `BuildStats.to_dict()`
is `stats.json` (schema in docs/DESIGN.md, "Statistics") and `BuildStats.from_dict` reads one
back, both by one generic pair (`to_json`, `from_json`) that follows each record's field types
and the layout its fields' metadata gives (`json_layout`: a renamed or nested key, keys inline
in the parent's object, a None left out). `compute_stats` builds them from the final state, the
DARS settings, what the releases measured (`BuildFigures`, from `build.assemble_releases`) and
what the run recorded (`RunRecord`). Levels: GSM8K = 0, MATH 1-5, null for sources without levels.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

import numpy as np

from dart_hf import dars
from dart_hf.build.assemble import FILTERS
from dart_hf.config import DarsConfig
from dart_hf.dars import State
from dart_hf.errors import DartError
from dart_hf.grading.audit import GOLD_STATUSES, counts_by_level
from dart_hf.strategies import STRATEGIES

#: Rows dropped per reason, as the cards count them: dedup and every quality filter of
#: `assemble.FILTERS` (a new filter is counted without a change here).
FILTER_KEYS = ("duplicate", *FILTERS)
HISTOGRAM_BINS = 10

_T = TypeVar("_T")


def _level(lv: Any) -> int | None:
    return None if lv < 0 else int(lv)


# --------------------------------------------------------------------------- JSON form


def json_layout(
    key: str | tuple[str, ...] | None = None, *, inline: bool = False, omit_none: bool = False
) -> dict[str, Any]:
    """A field's `stats.json` layout, as dataclass field metadata.

    Args:
        key: Its key when not the field's name; a tuple is a path into nested objects
            (`("histogram", "edges")`).
        inline: Its keys sit in the record's own object: a record's fields, or (a dict)
            every key no other field claims.
        omit_none: Left out of the object when None (and None when absent).
    """
    return {"json": {"key": key, "inline": inline, "omit_none": omit_none}}


def _layout(f: Field[Any]) -> dict[str, Any]:
    spec = dict(f.metadata.get("json") or {"key": None, "inline": False, "omit_none": False})
    key = spec["key"] or f.name
    spec["path"] = (key,) if isinstance(key, str) else tuple(key)
    return spec


def to_json(value: Any) -> Any:
    """The plain JSON form of a record: a dataclass as an object (keys in field order, laid
    out as its fields' `json_layout` metadata says), tuples and arrays as lists, numpy scalars as
    numbers; anything else as it is."""
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            spec, item = _layout(f), getattr(value, f.name)
            if item is None and spec["omit_none"]:
                continue
            plain = to_json(item)
            if spec["inline"]:
                out.update(plain)
                continue
            node = out
            for part in spec["path"][:-1]:
                node = node.setdefault(part, {})
            node[spec["path"][-1]] = plain
        return out
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _paths(cls: type) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], bool]:
    """(required key paths, optional ones, whether a dict field takes every other key)."""
    required: list[tuple[str, ...]] = []
    optional: list[tuple[str, ...]] = []
    rest = False
    for f in fields(cls):
        spec = _layout(f)
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if spec["inline"]:
            inner = _optional(typing.get_type_hints(cls)[f.name])[0]
            if is_dataclass(inner):
                sub_required, sub_optional, sub_rest = _paths(inner)  # type: ignore[arg-type]
                (optional if has_default else required).extend(sub_required)
                optional.extend(sub_optional)
                rest = rest or sub_rest
            else:
                rest = True
        else:
            (optional if has_default or spec["omit_none"] else required).append(spec["path"])
    return required, optional, rest


def _unknown(node: Mapping[str, Any], paths: list[tuple[str, ...]], at: str = "") -> list[str]:
    out = []
    for key, value in node.items():
        below = [p[1:] for p in paths if p[0] == key]
        if not below:
            out.append(f"{at}{key}")
        elif all(below) and isinstance(value, Mapping):
            out += _unknown(value, below, f"{at}{key}.")
    return out


def _lookup(node: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _object(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DartError(f"stats {where or 'file'}: expected an object, got {type(data).__name__}")
    return data


def _array(data: Any, where: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(data, list | tuple):
        raise DartError(f"stats {where}: expected a list, got {type(data).__name__}")
    return data


def _optional(hint: Any) -> tuple[Any, bool]:
    """(the type, whether None is allowed) of `X | None`; other types as they are."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _value(hint: Any, data: Any, where: str) -> Any:
    """`data` (JSON) as a value of type `hint`: records, tuples, lists and dicts of them."""
    hint, nullable = _optional(hint)
    if data is None and nullable:
        return None
    if is_dataclass(hint) and isinstance(hint, type):
        return from_json(hint, data, where)
    if hint is np.ndarray:
        return np.asarray(data)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        return tuple(_value(item, v, where) for v in _array(data, where))
    if origin is list:
        return [_value(args[0] if args else Any, v, where) for v in _array(data, where)]
    if origin in (dict, Mapping):
        item = args[1] if len(args) == 2 else Any
        return {k: _value(item, v, f"{where}.{k}") for k, v in _object(data, where).items()}
    return data


def from_json(cls: type[_T], data: Any, where: str = "") -> _T:
    """The record `cls` from its JSON form (as `to_json` writes it), by its fields' types.

    Args:
        cls: A dataclass.
        data: Its JSON object.
        where: Its place in `stats.json` (`strategies.uniform`), for the error.

    Raises:
        DartError: `stats <where>: missing X; unknown Y` when the object lacks a field that
            has no default or holds a key no field has.
    """
    data = _object(data, where)
    required, optional, rest = _paths(cls)
    missing = [".".join(p) for p in required if not _lookup(data, p)[0]]
    extra = [] if rest else _unknown(data, required + optional)
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(extra)}"] if extra else []
        )
        raise DartError(f"stats{' ' + where if where else ''}: {'; '.join(parts)}")
    return _build(cls, data, where)


def _build(cls: type[_T], data: Mapping[str, Any], where: str) -> _T:
    """`from_json` after the check (an inline record reads its keys from its parent's)."""
    hints, kwargs, claimed = typing.get_type_hints(cls), {}, set()
    for f in fields(cls):  # type: ignore[arg-type]
        spec = _layout(f)
        if not spec["inline"]:
            claimed.add(spec["path"][0])
            found, item = _lookup(data, spec["path"])
            if found:
                kwargs[f.name] = _value(hints[f.name], item, _join(where, ".".join(spec["path"])))
            continue
        inner = _optional(hints[f.name])[0]
        if is_dataclass(inner):
            required, optional, _ = _paths(inner)  # type: ignore[arg-type]
            claimed.update(p[0] for p in required + optional)
            kwargs[f.name] = _build(inner, data, where)  # type: ignore[arg-type]
    for f in fields(cls):  # type: ignore[arg-type]
        if _layout(f)["inline"] and f.name not in kwargs:  # a dict: every key not claimed
            rest = {k: v for k, v in data.items() if k not in claimed}
            kwargs[f.name] = _value(hints[f.name], rest, where)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a value of the wrong type, found by the record's own checks
        raise DartError(f"stats {where or 'file'}: {exc}") from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class Record:
    """`to_dict` / `from_dict` of a record: its `stats.json` form (`to_json`, `from_json`)."""

    def to_dict(self) -> dict[str, Any]:
        """The `stats.json` form."""
        out: dict[str, Any] = to_json(self)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> Self:
        """Read the `stats.json` form (`where`: its place in the file, for errors)."""
        return from_json(cls, d, where)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Totals(Record):
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
class LevelRow(Record):
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
class StrategyStats(Record):
    """One strategy's release: its parameters, rows, rows filtered and its per-level rows."""

    params: dict[str, Any]
    rows: int
    filters: dict[str, int]
    decontaminated_queries: int
    per_level: tuple[LevelRow, ...]


@dataclass(frozen=True)
class StopRow(Record):
    """Queries per stop reason at one level (None: no level); written as the level, then one
    key per stop reason."""

    level: int | None
    counts: dict[str, int] = field(metadata=json_layout(inline=True))


@dataclass(frozen=True)
class PriorRow(Record):
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
class StatedPrior(Record):
    """The prior as stated in the settings (`prior_zero`, `prior_a`, `prior_b`)."""

    zero: float
    a: float
    b: float


@dataclass(frozen=True)
class YieldRule(Record):
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


@dataclass(frozen=True)
class FailRate(Record):
    """Where the fail rates came from and their histogram.

    Attributes:
        phase_samples: Samples per query of the difficulty phase (None: `fail_rate_from`).
        source: `fail_rate_from` (written as `from`), or None.
        edges: Histogram bin edges over [0, 1].
        counts: Queries per bin.
    """

    phase_samples: int | None
    source: str | None = field(metadata=json_layout("from"))
    edges: tuple[float, ...] = field(metadata=json_layout(("histogram", "edges")))
    counts: tuple[int, ...] = field(metadata=json_layout(("histogram", "counts")))


@dataclass(frozen=True)
class GoldLevelRow(Record):
    """Queries per gold status (audit) or gold source (majority) at one level.

    Attributes:
        level: The level as text (`"0"`-`"5"`, `"none"`).
        label: Its label in the cards (`L0 (GSM8K)`, `L5`, `unknown`).
        counts: Queries per status or source.
    """

    level: str
    label: str
    counts: dict[str, int] = field(metadata=json_layout(inline=True))


@dataclass(frozen=True)
class GoldSettings(Record):
    """The gold audit's thresholds (the build settings of the same names)."""

    gold_min_votes: int
    gold_min_share: float
    exclude_disputed: bool


@dataclass(frozen=True)
class GoldAudit(Record):
    """Gold statuses overall and per level, with the audit's thresholds."""

    settings: GoldSettings = field(metadata=json_layout(inline=True))
    counts: dict[str, int]
    per_level: tuple[GoldLevelRow, ...]


@dataclass(frozen=True)
class GoldMajority(Record):
    """`gold: majority` builds: the vote's settings and queries per gold source and level
    (`answer`, `majority`, and `no_majority`: left out)."""

    gold: str
    gold_min_votes: int
    gold_min_share: float
    vote_samples: int
    fail_rate_round: int | None
    counts: dict[str, int]
    per_level: tuple[GoldLevelRow, ...]


@dataclass(frozen=True)
class ModelInfo(Record):
    """The synthesis model, as the graded samples record it."""

    model: str | None
    model_hash: str | None
    revision: str | None = None


@dataclass(frozen=True)
class EngineInfo(Record):
    """The inference engine, as the graded samples record it."""

    engine: str | None
    engine_version: str | None


@dataclass(frozen=True)
class BuildStats(Record):
    """Every figure of a build (`stats.json`), read by the cards, plots and the CLI's table.

    Attributes:
        recipe: Every setting of the build after overrides, and the decontamination
            benchmarks (shown verbatim in the cards, secrets scrubbed).
        model: The synthesis model.
        engine: The inference engine.
        sampling: The sampling settings.
        grader: Grader name and versions (`grading.grade.grader_info`).
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
    gold_majority: GoldMajority | None = field(default=None, metadata=json_layout(omit_none=True))
    stream: StreamStats | None = field(default=None, metadata=json_layout(omit_none=True))


@dataclass(frozen=True)
class StreamStats(Record):
    """How the build's rounds went to the engine, summed over its rounds (`meta.json`).

    Attributes:
        max_in_flight: The cap on requests in flight (None: shard by shard, no stream).
        seeding: "per round" (the engine reseeded when a round's stream opens: vLLM) or
            "per request" (each request carries its shard's seed) or "not seeded" (a served
            model without `request_seeds`: the server's own randomness).
        requests: Requests sent to the engine.
        engine_idle_s: Wall time with free slots in flight and no request waiting.
        slot_share: Mean share of the engine's slots in use, where the engine reports it.
        grading_wait_s: Time from a round's last completion to the end of its grading.
        overlap: Whether finished shards were graded while others generated.
        served: A served model's server as it reported itself (served id, root,
            max_model_len, server and version, who applies the chat template); None in-process.
    """

    max_in_flight: int | None
    seeding: str | None
    requests: int
    engine_idle_s: float
    slot_share: float | None
    grading_wait_s: float
    overlap: bool | None
    served: dict[str, str] | None = None

    @classmethod
    def from_metas(cls, metas: list[dict[str, Any]]) -> StreamStats | None:
        """The build's figures from its rounds' metas (None when no round recorded any)."""
        streamed = [m for m in metas if "grading_wait_s" in m]
        if not streamed:
            return None
        caps = [int(m["max_in_flight"]) for m in streamed if m.get("max_in_flight")]
        shares = [
            (m["slot_share"], m.get("requests", 0)) for m in streamed if m.get("slot_share") is not None
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
            served=next((m["served"] for m in reversed(streamed) if m.get("served")), None),
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
                no_correct_samples=(int(np.median(state["samples"][at & none])) if (at & none).any() else 0),
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


def compute_stats(state: State, config: DarsConfig, figures: BuildFigures, run: RunRecord) -> BuildStats:
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
