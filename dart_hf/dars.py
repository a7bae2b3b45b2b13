"""Difficulty-aware rejection sampling: targets, the adaptive scheduler, stop rules, state.

One pool serves every requested strategy. The per-query state is a table of numpy columns
(`State`), saved as Arrow/parquet after every round (`state/round-XXX.parquet`):

    id, level, source, samples, corrects, fail_rate, fail_rate_samples,
    target_<strategy>..., target, min_samples, done, stop_reason, last_round,
    prior_zero, prior_a, prior_b, stop_price, stop_first_rows

`target` is the largest correct-response target over the strategies that count correct
responses (uniform, prop2diff); VRT needs raw samples instead, so it sets `min_samples`
(= `vrt_n`) and `target_vrt` holds that sample count. A query is finished when it has
`corrects >= target` and `samples >= min_samples` (`reached`), has used `max_trials`
(`max_trials`), is given up by the yield rule with no correct response (`no_correct`) or
with some below its target (`low_yield`), or the build's raw-sample budget is spent
(`budget`). The yield rule's price and the value of a first correct response are stated
(`min_yield`, `first_value`) or, by default, set every round from the state so that the
projected loss of rows and of each level's coverage stays within `row_loss` and
`coverage_loss` (`prices`).

Every function here is pure over numpy arrays: the build calls them, the scheduler benchmark
drives the very same functions with simulated Bernoulli outcomes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dart_hf import passrate
from dart_hf.config import DarsConfig
from dart_hf.errors import DartError
from dart_hf.strategies import STRATEGIES

State = dict[str, np.ndarray]

STOP_REASONS: tuple[str, ...] = ("reached", "max_trials", "no_correct", "low_yield", "budget")
"""Why a query stopped. `no_correct` and `low_yield` are the yield rule's two cases."""
HORIZON = 1000
"""The yield rule's horizon: values are per 1,000 further samples."""


def new_state(ids: Sequence[str], levels: Sequence[int | None], sources: Sequence[str]) -> State:
    """Fresh per-query state: nothing sampled, no targets yet."""
    n = len(ids)
    if n == 0:
        raise DartError("the query pool has no rows")
    return {
        "id": np.asarray(ids, dtype=object),
        "level": np.asarray([-1 if lv is None else int(lv) for lv in levels], dtype=np.int64),
        "source": np.asarray(sources, dtype=object),
        "samples": np.zeros(n, dtype=np.int64),
        "corrects": np.zeros(n, dtype=np.int64),
        "fail_rate": np.full(n, np.nan),
        "fail_rate_samples": np.zeros(n, dtype=np.int64),
        "target": np.zeros(n, dtype=np.int64),
        "min_samples": np.zeros(n, dtype=np.int64),
        "done": np.zeros(n, dtype=bool),
        "stop_reason": np.full(n, None, dtype=object),
        "last_round": np.full(n, -1, dtype=np.int64),
    }


def freeze_difficulty(
    state: State,
    config: DarsConfig,
    fail_rate: np.ndarray | None = None,
    fail_rate_samples: np.ndarray | None = None,
) -> State:
    """Freeze fail rates (from the counts so far, or given) and set every strategy's target.

    Args:
        state: Current state; not modified.
        config: Strategies and their parameters.
        fail_rate: Fail rates from an earlier run; None computes 1 - corrects / samples.
        fail_rate_samples: Samples behind each given fail rate.

    Returns:
        A new state with `fail_rate`, `fail_rate_samples`, `target_<strategy>`, `target`
        and `min_samples` set.
    """
    out = dict(state)
    if fail_rate is None:
        samples = state["samples"]
        with np.errstate(invalid="ignore", divide="ignore"):
            fr = np.where(samples > 0, 1.0 - state["corrects"] / np.maximum(samples, 1), np.nan)
        frs = samples.copy()
    else:
        fr = np.asarray(fail_rate, dtype=np.float64)
        frs = np.asarray(
            fail_rate_samples if fail_rate_samples is not None else np.zeros(len(fr)),
            dtype=np.int64,
        )
    out["fail_rate"] = fr
    out["fail_rate_samples"] = frs
    n = len(fr)
    target = np.zeros(n, dtype=np.int64)
    min_samples = np.zeros(n, dtype=np.int64)
    for name in config.strategies:
        strategy = STRATEGIES[name]
        t = strategy.compute_targets(fr, config)
        out[f"target_{name}"] = t
        if strategy.counts_correct:
            target = np.maximum(target, t)
        else:
            min_samples = np.maximum(min_samples, t)
    out["target"] = target
    out["min_samples"] = np.minimum(min_samples, config.max_trials)
    return out


def update_counts(state: State, index: np.ndarray, correct: np.ndarray, round_: int) -> State:
    """Add graded samples to the counts.

    Args:
        state: Current state; not modified.
        index: Row position in the state of each graded sample.
        correct: Whether each sample is correct (null/None counts as not correct).
        round_: The round these samples belong to.
    """
    out = dict(state)
    index = np.asarray(index, dtype=np.int64)
    ok = np.asarray([bool(c) for c in correct], dtype=np.int64) if len(correct) else index * 0
    samples = state["samples"].copy()
    corrects = state["corrects"].copy()
    np.add.at(samples, index, 1)
    np.add.at(corrects, index, ok)
    out["samples"] = samples
    out["corrects"] = corrects
    last = state["last_round"].copy()
    last[np.unique(index)] = round_
    out["last_round"] = last
    return out


STOP_PRICE_COLUMNS = ("stop_price", "stop_first_rows")
"""State columns holding the yield rule's price and first-response value when a query
stopped (written by `apply_stop_rules`; null while it is open)."""
PRIOR_COLUMNS = ("prior_zero", "prior_a", "prior_b")
"""State columns holding each query's prior (its level's fit), written by `apply_stop_rules`."""


@dataclasses.dataclass(frozen=True, eq=False)
class Beliefs:
    """Every query's pass-rate prior on `passrate.P` (unpacks as `group, weights`).

    Attributes:
        group: The prior group (level) of each query.
        weights: (groups, grid) prior weights.
        parts: The no-correct index parts of these weights, kept per (group, target,
            price, max_trials) while the beliefs are in use (`Pricing.parts`): the stop
            rules and the next schedule price the same beliefs, often at the same price.
    """

    group: np.ndarray
    weights: np.ndarray
    parts: dict[tuple[int, float, float, int], tuple[np.ndarray, np.ndarray]] = dataclasses.field(
        default_factory=dict, repr=False
    )

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.group, self.weights))

    def __getitem__(self, i: int) -> np.ndarray:
        return (self.group, self.weights)[i]


def beliefs(state: State, config: DarsConfig) -> Beliefs:
    """Every query's pass-rate prior on `passrate.P`: its group and the groups' weights.

    With `prior_fit` (after any sample): its level's nonparametric fit to the pool's counts
    (`passrate.fit_grid_pool`, started from the stated prior); else the stated prior
    (`prior_zero` at p = 0, Beta(`prior_a`, `prior_b`) elsewhere). The fit reads only the
    counts, the levels and which queries were left out for want of a gold, so a state that
    differs in stop reasons alone has the same beliefs (`Pricing` takes them along).
    """
    stated = passrate.beta_weights(config.prior_zero, config.prior_a, config.prior_b)
    if not config.prior_fit:
        return Beliefs(np.zeros(len(state["samples"]), dtype=np.int64), stated[None, :])
    # a query left out for want of a gold (`gold: majority`) has no pass rate to fit
    fitted = state["stop_reason"] != "no_majority"
    samples = np.where(fitted, state["samples"], 0)
    levels, weights = passrate.fit_grid_pool(
        state["level"], np.where(fitted, state["corrects"], 0), samples, stated
    )
    group = np.searchsorted(levels, state["level"])
    return Beliefs(group, _unresolved(weights, group, samples, stated))


def _unresolved(
    weights: np.ndarray, group: np.ndarray, samples: np.ndarray, stated: np.ndarray
) -> np.ndarray:
    """Give back to the stated prior what no count of a level can tell: p = 0 from p < 1/n.

    No query of a level with at most n samples tells a pass rate below 1 / n from none,
    so of the fit's mass there (p = 0 and the grid rates below 1 / n, n the most samples
    of any query of the level) the share at p > 0 is at least the stated prior's share,
    spread in the stated prior's shape. The maximum likelihood fit pushes such mass to
    p = 0 (the boundary), and the queries that are hard but solvable, the ones DART is
    for, would look unsolvable before they are tried; the split the counts cannot decide
    is decided towards solvable, since that error costs samples (bounded by max_trials)
    where the other costs coverage.
    """
    out = weights.copy()
    nmax = np.zeros(len(weights))
    np.maximum.at(nmax, group, samples.astype(np.float64))
    for g in range(len(weights)):
        bound = 1.0 / max(nmax[g], 1.0)
        tiny = (passrate.P > 0) & (bound > passrate.P)
        region_mass = float(weights[g, 0] + weights[g, tiny].sum())
        stated_region = float(stated[0] + stated[tiny].sum())
        if region_mass <= 0 or stated_region <= 0:
            continue
        want = region_mass * float(stated[tiny].sum()) / stated_region
        have = float(weights[g, tiny].sum())
        if want > have:
            out[g, tiny] = weights[g, tiny] + (want - have) * stated[tiny] / stated[tiny].sum()
            out[g, 0] = region_mass - want
    return out


GIVEN_UP = ("no_correct", "low_yield")
"""Stop reasons of queries the yield rule gave up on (their further rows count as lost)."""


@dataclasses.dataclass(frozen=True)
class Prices:
    """The yield rule's two exchange rates for one state (`Pricing.prices`).

    Attributes:
        min_yield: The price: a query keeps sampling while it expects at least this many
            new kept rows per 1,000 samples (the stated `min_yield`, else the highest price
            whose projected loss of rows is within `row_loss`).
        first_rows: Per prior group (level): what a first correct response is worth, in
            kept rows, itself included (`first_value` x the group's largest target when
            stated, else min_yield / (1,000 p1), p1 the highest pass rate the level's
            coverage may give up within `coverage_loss`).
        row_loss: Projected share of the rows a run to max_trials would keep that the
            price gives up (already given up, plus what stopping below it will give up; the
            largest over the releases that count correct responses, each with its targets).
        coverage_loss: Per group: projected share of its queries left without a correct
            response that a run to max_trials would have covered.
        derived: Whether `min_yield` (first) and `first_rows` (second) come from the
            tolerances rather than stated values.
    """

    min_yield: float
    first_rows: np.ndarray
    row_loss: float
    coverage_loss: np.ndarray
    derived: tuple[bool, bool]


class Pricing:
    """The yield rule's view of one state: its beliefs, prices and the index curves they give.

    Every decision about a state reads it; it is computed once per state and passed along
    (a round computes one for its schedule and one for its stop rules), with nothing kept
    between calls. `config` is the settings with `min_yield` set to the price in force.

    The price and the value of a first correct response come from the tolerances unless
    stated. What the policy maximises is unchanged (kept rows plus coverage minus a price
    per sample); `row_loss` and `coverage_loss` say how much of each a user gives up for the
    samples it saves, and these are the Lagrange multipliers that hold exactly that much.
    Under each query's posterior (its level's fitted prior times its counts), a run to
    max_trials would still bring it min(t - c, p x trials left) rows and, with none yet,
    coverage with probability 1 - (1 - p)^(trials left). At price lambda a query given up
    loses all of that; an open query whose posterior mean is below lambda is given up now;
    any other loses what lies at pass rates below lambda (where it stops once its counts
    show it). The price is the highest grid rate whose total projected loss, queries
    already given up included, is at most `row_loss` of the projected rows of every release
    that counts correct responses (each with its own targets). Per level, a first correct
    response is worth the least W rows at which the rule's own stop point for queries with
    none (`none_curve` below the price) forgoes at most `coverage_loss` of the level's
    queries' coverage (`_first_rows`). Every input is the state: resuming after any round
    recomputes the same prices.
    """

    def __init__(self, state: State, config: DarsConfig, belief: Beliefs | None = None) -> None:
        self.state = state
        self.stated = config
        self.beliefs = belief if belief is not None else beliefs(state, config)
        self.prices = _prices(self)
        self.config = (
            config
            if config.min_yield is not None
            else dataclasses.replace(config, min_yield=self.prices.min_yield)
        )

    def with_config(self, config: DarsConfig) -> Pricing:
        """The same state priced under other settings (same beliefs: the fit is unchanged)."""
        return Pricing(self.state, config, self.beliefs)

    def parts(self, g: int, target: float, config: DarsConfig) -> tuple[np.ndarray, np.ndarray]:
        """`_none_parts` of group g for one target and price (kept for this state)."""
        key = (g, float(target), float(config.min_yield or 0.0), config.max_trials)
        memo = self.beliefs.parts
        if key not in memo:
            memo[key] = _none_parts(self.beliefs.weights[g], target, config)
        return memo[key]

    @functools.cached_property
    def group_targets(self) -> np.ndarray:
        """The largest target of each prior group."""
        tmax = np.zeros(len(self.beliefs.weights))
        np.maximum.at(tmax, self.beliefs.group, self.state["target"].astype(np.float64))
        return tmax

    @functools.cached_property
    def mean(self) -> np.ndarray:
        """E[p | c correct of n] per query under its prior (Beta-Binomial on the grid)."""
        group, weights = self.beliefs
        post = passrate.posterior(self.state["corrects"], self.state["samples"], weights[group])
        return post @ passrate.P

    @functools.cached_property
    def curves(self) -> np.ndarray:
        """`none_curve` of every prior group under `config`: (groups, max_trials + 1).

        t is the largest target in the group (a query with none after the difficulty phase
        has the largest Prop2Diff target anyway); a first correct response is worth the
        group's `prices.first_rows`.
        """
        cfg = self.config
        rows = []
        for g, (t, f) in enumerate(zip(self.group_targets, self.prices.first_rows, strict=True)):
            if math.isinf(f):
                rows.append(np.full(cfg.max_trials + 1, np.inf))
                continue
            first, unlock = self.parts(g, float(t), cfg)
            rows.append(HORIZON * (float(f) * first + unlock))
        return np.stack(rows)


def prices(state: State, config: DarsConfig) -> Prices:
    """The price and the value of a first correct response for a state (`Pricing`)."""
    return Pricing(state, config).prices


def _prices(pricing: Pricing) -> Prices:
    state, config = pricing.state, pricing.stated
    group, weights = pricing.beliefs
    p = passrate.P
    c, n, t = state["corrects"], state["samples"], state["target"]
    reason = state["stop_reason"]
    gold = reason != "no_majority"
    need = np.maximum(t - c, 0)
    rem = np.maximum(config.max_trials - n, 0)
    given_up = state["done"] & np.isin(reason.astype(str), GIVEN_UP) & gold
    live = ~state["done"] & gold & (need > 0)
    look = given_up | live
    idx = np.flatnonzero(look)
    post = passrate.posterior(c[idx], n[idx], weights[group[idx]])
    mean = post @ p
    open_some = live[idx] & (c[idx] > 0)
    # every release that counts correct responses keeps its own rows: the price must hold
    # the tolerance for each (a pool serving Uniform and Prop2Diff loses mostly the rows of
    # one of them)
    targets = [
        state.get(f"target_{name}", t)
        for name in config.strategies
        if STRATEGIES[name].counts_correct
    ] or [t]
    ok = np.ones(len(p), dtype=bool)
    shares = []
    for ts in targets:
        rows = np.minimum(np.maximum(ts[idx] - c[idx], 0)[:, None], p[None, :] * rem[idx, None])
        mass = post * rows
        full = mass.sum(axis=1)
        # cum[:, k]: rows at pass rates below p[k]
        cum = np.concatenate([np.zeros((len(idx), 1)), np.cumsum(mass, axis=1)[:, :-1]], axis=1)
        total = float(np.minimum(c, ts)[gold].sum()) + float(full.sum())
        loss = (
            float(full[given_up[idx]].sum())
            + np.where(
                mean[open_some, None] < p[None, :], full[open_some, None], cum[open_some]
            ).sum(axis=0)
            + cum[live[idx] & ~open_some].sum(axis=0)
        )
        ok &= loss <= config.row_loss * total + 1e-9
        shares.append(loss / total if total > 0 else np.zeros(len(p)))
    # the highest grid rate within the tolerance (at least the grid's lowest rate above 0)
    k = max(int(np.flatnonzero(ok).max()) if ok.any() else 1, 1)
    derived_price = config.min_yield is None
    price = HORIZON * float(p[k]) if config.min_yield is None else float(config.min_yield)
    row_share = max(float(x[k]) for x in shares) if derived_price else float("nan")
    lam = price / HORIZON if price > 0 else float(p[k])
    groups = len(weights)
    tmax = pricing.group_targets
    cov_loss = np.full(groups, np.nan)
    if config.first_value is not None:
        first = config.first_value * np.maximum(tmax, 1.0)
    else:
        first, cov_loss = _first_rows(pricing, lam * HORIZON, live, given_up)
    return Prices(
        min_yield=price,
        first_rows=first,
        row_loss=row_share,
        coverage_loss=cov_loss,
        derived=(derived_price, config.first_value is None),
    )


def _first_rows(
    pricing: Pricing, price: float, live: np.ndarray, given_up: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the least first-response value (rows) whose coverage loss fits the tolerance.

    The loss is the rule's own: a query with none in n stops at its group's stop point s(W)
    (`none_curve` below the price), so of the coverage a run to max_trials would give it,
    1 - (1 - p)^(trials left), it forgoes (1 - p)^(s - n) - (1 - p)^(trials left), averaged
    over its posterior; queries already given up with none forgo all of theirs. The loss
    falls as W rises (the stop point moves out), so W is found by bisection (log scale).
    """
    state, config = pricing.state, pricing.stated
    group, weights = pricing.beliefs
    tmax = pricing.group_targets
    c, n = state["corrects"], state["samples"]
    cfg = dataclasses.replace(config, min_yield=price)
    first = np.ones(len(weights))
    cov_loss = np.zeros(len(weights))
    gold = state["stop_reason"] != "no_majority"
    for g in range(len(weights)):
        members = int((gold & (group == g)).sum())
        none = (group == g) & (c == 0)
        open_q = np.flatnonzero(none & live)
        gone_q = np.flatnonzero(none & given_up)
        if members == 0 or (len(open_q) == 0 and len(gone_q) == 0):
            continue
        gone = 0.0
        if len(gone_q):
            rem_g = np.maximum(config.max_trials - n[gone_q], 0)
            post_g = passrate.posterior(c[gone_q], n[gone_q], weights[g][None, :])
            gone = float((post_g * -np.expm1(rem_g[:, None] * passrate.LOG_Q[None, :])).sum())
        parts = pricing.parts(g, float(tmax[g]), cfg)
        loss = _NoneLoss(cfg, weights[g], parts, n[open_q], gone)
        allowed = config.coverage_loss * members
        lo, hi = 0.0, math.log(1e7)
        if loss(1.0) <= allowed:
            hi = 0.0
        else:
            for _ in range(24):
                mid = (lo + hi) / 2
                if loss(math.exp(mid)) <= allowed:
                    hi = mid
                else:
                    lo = mid
        first[g] = math.exp(hi)
        cov_loss[g] = loss(first[g]) / members
    return first, cov_loss


class _NoneLoss:
    """Expected coverage one level forgoes, as a function of its first-response value W.

    Its open queries with none (samples `n`) stop at the level's stop point s(W) at the
    price (`config.min_yield`); `gone` is what queries already given up forgo.
    """

    def __init__(
        self,
        config: DarsConfig,
        weights: np.ndarray,
        parts: tuple[np.ndarray, np.ndarray],
        n: np.ndarray,
        gone: float,
    ) -> None:
        self.config, self.parts, self.n, self.gone = config, parts, n, gone
        rem = np.maximum(config.max_trials - n, 0)
        zeros = np.zeros(len(n), dtype=np.int64)
        self.post = passrate.posterior(zeros, n, weights[None, :])
        self.never = np.exp(rem[:, None] * passrate.LOG_Q[None, :])  # none in a full run

    def __call__(self, first_rows: float) -> float:
        cfg = self.config
        first, unlock = self.parts
        curve = HORIZON * (first_rows * first + unlock)
        below = curve < (cfg.min_yield or 0.0)
        stop = int(below.argmax()) if below.any() else cfg.max_trials
        stop = min(max(stop, cfg.no_correct_min_samples or 0), cfg.max_trials)
        left = np.maximum(stop - self.n, 0)
        miss = np.exp(left[:, None] * passrate.LOG_Q[None, :]) - self.never
        return self.gone + float((self.post * miss).sum())


def effective(state: State, config: DarsConfig) -> DarsConfig:
    """`config` with `min_yield` set to the price in force for `state` (`Pricing.config`)."""
    return config if config.min_yield is not None else Pricing(state, config).config


def fit_prior(state: State, config: DarsConfig, pricing: Pricing | None = None) -> State:
    """The state with every query's prior summarised in `prior_zero, prior_a, prior_b`.

    The summary (for the cards) is the prior's mass at p = 0 and the Beta of the same mean
    and variance over the rest; the decisions use the grid prior itself (`beliefs`).
    """
    out = dict(state)
    group, weights = pricing.beliefs if pricing is not None else beliefs(state, config)
    rows = np.asarray([passrate.summary(w) for w in weights])
    if not config.prior_fit:
        rows = np.asarray([[config.prior_zero, config.prior_a, config.prior_b]])
    for i, name in enumerate(PRIOR_COLUMNS):
        out[name] = rows[group, i].copy()
    return out


def priors(state: State, config: DarsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(zero, a, b) per query: the state's prior summary columns, else the stated prior."""
    if all(name in state for name in PRIOR_COLUMNS) and config.prior_fit:
        return tuple(np.asarray(state[name], dtype=np.float64) for name in PRIOR_COLUMNS)  # type: ignore[return-value]
    n = len(state["samples"])
    return (
        np.full(n, config.prior_zero),
        np.full(n, config.prior_a),
        np.full(n, config.prior_b),
    )


def posterior_mean(state: State, config: DarsConfig) -> np.ndarray:
    """E[p | c correct of n] per query under its prior (Beta-Binomial on the grid)."""
    return Pricing(state, config).mean


def yield_rates(state: State, config: DarsConfig, pricing: Pricing | None = None) -> np.ndarray:
    """The marginal value of a query's next samples, per 1,000, in kept rows (the index).

    With c >= 1 correct responses in n samples (c below target): 1,000 E[p | c, n], the
    expected new kept responses per 1,000 further samples. With none: the value of the
    first correct response it may find, `Pricing.curves`. A query still short of
    `min_samples` (VRT) is worth infinity; a query at its target is worth 0.
    """
    pricing = pricing if pricing is not None else Pricing(state, config)
    config = pricing.config
    value = HORIZON * pricing.mean
    none = state["corrects"] == 0
    if none.any():
        n = np.minimum(state["samples"], config.max_trials)
        value[none] = pricing.curves[pricing.beliefs.group[none], n[none]]
    # With `no_correct_stop: false` a query with none is never stopped; nor before
    # `no_correct_min_samples`: such a query is worth sampling whatever the price.
    floor = config.no_correct_min_samples or 0
    keep = none & ((not config.no_correct_stop) | (state["samples"] < floor))
    value[keep] = np.inf
    value[state["corrects"] >= state["target"]] = 0.0
    value[state["samples"] < state["min_samples"]] = np.inf
    return value


@functools.lru_cache(maxsize=4)
def _decay(max_trials: int) -> np.ndarray:
    """(max_trials + 1, grid) matrix of (1 - p)^n: a table of constants of the grid (kept
    per max_trials, as the grid itself is; it holds nothing of any state)."""
    n = np.arange(max_trials + 1, dtype=np.float64)
    table = np.exp(n[:, None] * passrate.LOG_Q[None, :])
    table.flags.writeable = False
    return table


def none_curve(
    weights: np.ndarray, target: float, config: DarsConfig, first_rows: float | None = None
) -> np.ndarray:
    """The index of a query with no correct response under `weights`, for n = 0 .. max_trials.

    The marginal value of one more sample, per 1,000: 1,000 E[p (W + S(p)) | none in n].
    The sample is correct with probability p; its first correct response is worth
    W rows (`first_rows`; default `first_value` x t: its coverage, in units of its target
    t) plus S(p), what it unlocks: the rows the query then yields above the price,
    min(t - 1, p (max_trials - n)) x (1 - min_yield / (1,000 p)). The curve falls with n.
    """
    if first_rows is None:
        first_rows = (config.first_value or 1.0) * target
    if math.isinf(first_rows):
        return np.full(config.max_trials + 1, np.inf)
    first, unlock = _none_parts(weights, target, config)
    return HORIZON * (first_rows * first + unlock)


def _none_parts(
    weights: np.ndarray, target: float, config: DarsConfig
) -> tuple[np.ndarray, np.ndarray]:
    """`none_curve` is linear in W: (E[p | none in n], E[p S(p) | none in n]) over n."""
    price = config.min_yield or 0.0
    p = passrate.P
    n = np.arange(config.max_trials + 1, dtype=np.float64)
    safe = np.where(p > 0, p, 1.0)
    above = np.where(p > 0, np.clip(1.0 - price / (HORIZON * safe), 0.0, 1.0), 0.0)
    unlock = above * np.minimum(
        max(target - 1.0, 0.0), np.maximum(config.max_trials - n, 0)[:, None] * p
    )
    decay = _decay(config.max_trials) * weights  # unnormalised posterior given none in n
    den = decay.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(den > 0, (decay @ p) / den, 0.0)
        b = np.where(den > 0, (decay * (p * unlock)).sum(axis=1) / den, 0.0)
    return a, b


def none_curves(
    state: State, config: DarsConfig, pricing: Pricing | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`none_curve` of every prior group: (group per query, (groups, max_trials + 1))."""
    pricing = pricing if pricing is not None else Pricing(state, config)
    return pricing.beliefs.group, pricing.curves


def first_stop_samples(
    config: DarsConfig,
    price: float,
    prior: tuple[float, float, float] | np.ndarray | None = None,
    target: int | None = None,
) -> int:
    """Samples after which a query with no correct response is worth less than `price`.

    The bound of the no-correct rule: the least n whose `none_curve` is below `price`, under
    `prior` (grid weights, or (zero, a, b); default: the stated prior) and `target`
    (default: the largest of the strategies' targets), at least `no_correct_min_samples` when
    given; `max_trials` when there is none. A first correct response counts `first_value` x
    the target (1 x when `first_value` is unset: the derived value needs a state, `prices`).
    """
    if price <= 0 or not config.no_correct_stop:
        return config.max_trials
    if prior is None:
        prior = (config.prior_zero, config.prior_a, config.prior_b)
    weights = passrate.beta_weights(*prior) if len(prior) == 3 else np.asarray(prior)
    if target is None:  # the hardest query's target (fail rate 1) among correct-counting ones
        target = max(
            (
                int(STRATEGIES[name].compute_targets(np.ones(1), config)[0])
                for name in config.strategies
                if STRATEGIES[name].counts_correct
            ),
            default=1,
        )
    below = none_curve(weights, float(target), config) < price
    stop = int(below.argmax()) if below.any() else config.max_trials
    return min(max(stop, config.no_correct_min_samples or 0), config.max_trials)


def first_stops(
    state: State, config: DarsConfig, price: float, pricing: Pricing | None = None
) -> np.ndarray:
    """`first_stop_samples` of every query under its own prior, for one price."""
    return _FirstStops(pricing if pricing is not None else Pricing(state, config))(price)


class _FirstStops:
    """The no-correct stop point of every query as a function of the price.

    The index of a query with no correct response falls with its samples, so each distinct
    prior gets its index curve over n = 0 .. max_trials once; a price is then one lookup.
    """

    def __init__(self, pricing: Pricing) -> None:
        self.config = pricing.config
        self.inverse, self.curves = pricing.beliefs.group, pricing.curves

    def __call__(self, price: float) -> np.ndarray:
        cfg = self.config
        if price <= 0 or not cfg.no_correct_stop:
            return np.full(len(self.inverse), cfg.max_trials, dtype=np.int64)
        # least n with curve[n] < price (curves fall with n); none: max_trials
        below = self.curves < price
        stop = np.where(below.any(axis=1), below.argmax(axis=1), cfg.max_trials)
        stop = np.minimum(np.maximum(stop, cfg.no_correct_min_samples or 0), cfg.max_trials)
        return stop.astype(np.int64)[self.inverse]


def stop_masks(
    state: State, config: DarsConfig, pricing: Pricing | None = None
) -> dict[str, np.ndarray]:
    """Open queries the yield rule stops: `no_correct` and `low_yield` (below target, some)."""
    pricing = pricing if pricing is not None else Pricing(state, config)
    config = pricing.config
    n = state["samples"]
    c = state["corrects"]
    value = yield_rates(state, config, pricing)
    price = float(config.min_yield or 0.0)
    eligible = ~state["done"] & (n >= state["min_samples"]) & (c < state["target"])
    low = value < price
    no_correct = eligible & (c == 0) & low
    if not config.no_correct_stop:
        no_correct &= False
    no_correct &= n >= _FirstStops(pricing)(price)
    return {"no_correct": no_correct, "low_yield": eligible & (c > 0) & low}


def apply_stop_rules(
    state: State, config: DarsConfig, budget_left: int | None, pricing: Pricing | None = None
) -> State:
    """Mark finished queries with their stop reason (first matching rule wins).

    Order: `reached` (>= target correct, not strictly more, and >= min_samples raw samples),
    `max_trials`, `no_correct` (none correct, and its next sample's chance of a first one,
    times what a first one is worth, `prices` first_rows, is below the price), `low_yield`
    (some correct, below target, fewer than the price's new ones expected per 1,000
    samples), then `budget` for every query still open once the budget is spent. Each
    query stopped here gets the round's price and first-response value in `stop_price`
    and `stop_first_rows`.

    Args:
        pricing: The state's `Pricing` when the caller has it (else it is computed here).
    """
    pricing = pricing if pricing is not None else Pricing(state, config)
    state = fit_prior(state, config, pricing)
    out = state
    before = state["done"]
    done = before.copy()
    reason = state["stop_reason"].copy()
    open_ = ~done
    reached = (state["corrects"] >= state["target"]) & (state["samples"] >= state["min_samples"])
    masks = stop_masks(state, config, pricing)
    rules = [
        ("reached", reached),
        ("max_trials", state["samples"] >= config.max_trials),
        ("no_correct", masks["no_correct"]),
        ("low_yield", masks["low_yield"]),
    ]
    if budget_left is not None and budget_left <= 0:
        rules.append(("budget", np.ones(len(done), dtype=bool)))
    for name, mask in rules:
        hit = open_ & mask
        reason[hit] = name
        done |= hit
        open_ &= ~hit
    out["done"] = done
    out["stop_reason"] = reason
    # what the yield rule's prices were when each query stopped (for the statistics)
    n = len(done)
    stopped = done & ~before
    group = pricing.beliefs.group
    now = pricing.prices  # in force for the decisions above
    for name, value in zip(
        STOP_PRICE_COLUMNS, (np.full(n, now.min_yield), now.first_rows[group]), strict=True
    ):
        col = np.asarray(state.get(name, np.full(n, np.nan)), dtype=np.float64).copy()
        col[stopped] = value[stopped]
        out[name] = col
    return out


def _pass_estimate(state: State, pricing: Pricing) -> np.ndarray:
    """Posterior mean pass rate (before any sample: 1 - a loaded fail rate), >= p_floor."""
    n = state["samples"]
    prior = 1.0 - np.nan_to_num(state["fail_rate"], nan=0.5)
    return np.maximum(np.where(n > 0, pricing.mean, prior), pricing.config.p_floor)


def _spend_parts(state: State, pricing: Pricing) -> tuple:
    """(index, samples to target, has a correct response, stop points) of every query."""
    config = pricing.config
    n = state["samples"]
    need = np.maximum(state["target"] - state["corrects"], 0)
    to_target = np.ceil(config.safety * need / _pass_estimate(state, pricing)).astype(np.int64)
    to_target = np.maximum(to_target, state["min_samples"] - n)
    value = yield_rates(state, config, pricing)
    return value, to_target, state["corrects"] > 0, _FirstStops(pricing)


def _spend_at(
    state: State,
    config: DarsConfig,
    parts: tuple,
    price: float,
) -> np.ndarray:
    value, to_target, some, stops = parts
    n = state["samples"]
    first = np.maximum(stops(price) - n, state["min_samples"] - n)
    spend = np.minimum(np.where(some, to_target, first), config.max_trials - n)
    return np.where(~state["done"] & (value >= price), np.maximum(spend, 0), 0)


def projected_spend(
    state: State, config: DarsConfig, price: float, pricing: Pricing | None = None
) -> np.ndarray:
    """Raw samples each open query would still take if sampling stopped below `price`.

    With some correct: need / pass estimate (VRT: at least min_samples - n), if its index is
    at least `price`; with none: up to `first_stop_samples(price)`. Capped by max_trials.
    """
    pricing = pricing if pricing is not None else Pricing(state, config)
    return _spend_at(state, pricing.config, _spend_parts(state, pricing), price)


def budget_price(
    state: State, config: DarsConfig, budget_left: int | None, pricing: Pricing | None = None
) -> float:
    """The price per 1,000 samples at which the projected spend fits the budget left.

    The budget's shadow price: the price >= `min_yield` at which the `projected_spend` of
    the queries worth more just fits `budget_left` (bisection in log space; the query at the
    margin is admitted and trimmed by `fit_budget`). Without a budget: `min_yield`. While
    the budget binds, a first correct response is valued as `_budget_terms` says.
    """
    pricing = pricing if pricing is not None else Pricing(state, config)
    return _budget_terms(state, pricing, budget_left)[0]


BUDGET_FIRST_VALUE = 2.5
"""What a first correct response is worth, in units of the query's target, while a budget
binds and `first_value` is not stated (`_budget_terms`)."""


def _budget_terms(state: State, pricing: Pricing, budget_left: int | None) -> tuple[float, Pricing]:
    """(the budget's price, the pricing the round is scheduled with at that price).

    The tolerances say what a build gives up to save samples; while the budget binds no
    sample is saved (all are spent), so the budget's price alone rations them, with a
    first correct response worth `first_value` (stated) or `BUDGET_FIRST_VALUE` times
    the query's target, the rate at which, at equal budget, the policy is never worse
    than the reference's round robin on coverage (benchmarks/bench_scheduler.py).
    """
    config = pricing.config
    base = float(config.min_yield or 0.0)
    if budget_left is None:
        return base, pricing
    price = _shadow_price(state, pricing, budget_left, base)
    if price <= base or config.first_value is not None:
        return price, pricing
    rationed = pricing.with_config(dataclasses.replace(config, first_value=BUDGET_FIRST_VALUE))
    return _shadow_price(state, rationed, budget_left, base), rationed


def _shadow_price(state: State, pricing: Pricing, budget_left: int, base: float) -> float:
    config = pricing.config
    parts = _spend_parts(state, pricing)

    def fits(price: float) -> bool:
        return int(_spend_at(state, config, parts, price).sum()) <= budget_left

    if fits(base):
        return base
    value = parts[0]
    finite = value[np.isfinite(value) & ~state["done"]]
    lo = max(base, 1e-6)
    hi = max(float(finite.max()) * 2 if len(finite) else 1.0, lo * 2, 2.0 * HORIZON)
    if fits(lo):
        return lo
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if fits(mid):
            hi = mid
        else:
            lo = mid
    # The marginal query (index in [lo, hi)) is admitted; `fit_budget` trims its request,
    # as a fractional knapsack would.
    return lo


def schedule(
    state: State, config: DarsConfig, budget_left: int | None, pricing: Pricing | None = None
) -> np.ndarray:
    """Raw samples to draw per query this round (0 for finished queries).

    Only queries whose index (`yield_rates`) is at least the price sample: the price is
    `min_yield`, raised under a budget to `budget_price`, so the budget goes to the samples
    worth most by the same objective. An open query with some correct responses asks for
    ceil(safety * need / p), p the posterior mean pass rate (at least `p_floor`; before any
    sample: 1 - a loaded fail rate); one with none asks for the samples left before its
    index falls below the price. Every request is at most max(`growth` x its samples so far,
    `difficulty_samples`), at least what `min_samples` still requires and at least 1, capped
    by `round_cap` and the trials left before `max_trials`; if the requests exceed the budget
    left, they are granted in order of index (`fit_budget`).

    Args:
        pricing: The state's `Pricing` when the caller has it (else it is computed here).
    """
    open_ = ~state["done"]
    samples = state["samples"]
    pricing = pricing if pricing is not None else Pricing(state, config)
    price, pricing = _budget_terms(state, pricing, budget_left)
    config = pricing.config
    value = yield_rates(state, config, pricing)
    need = np.maximum(state["target"] - state["corrects"], 0)
    # Aim one standard deviation short of the need, so a round rarely overshoots the target;
    # the next round asks for the rest.
    p_est = _pass_estimate(state, pricing)
    aim = np.maximum(need - np.sqrt(need * (1 - np.minimum(p_est, 1.0))), np.minimum(need, 1))
    want = np.ceil(config.safety * aim / p_est).astype(np.int64)
    first = np.maximum(_FirstStops(pricing)(price) - samples, 1)
    # A loaded fail rate (`fail_rate_from`) tells a fresh query's pass rate, as a correct
    # response would; only a query with neither is sampled towards its first stop point.
    known = (state["corrects"] > 0) | ((samples == 0) & ~np.isnan(state["fail_rate"]))
    want = np.where(known, want, first)
    grow = np.maximum(np.ceil(config.growth * samples), config.difficulty_samples)
    want = np.minimum(want, grow.astype(np.int64))
    want = np.maximum(want, state["min_samples"] - samples)
    want = np.maximum(want, 1)
    want = np.minimum(want, config.round_cap)
    want = np.minimum(want, config.max_trials - samples)
    want = np.where(open_ & (value >= price), np.maximum(want, 0), 0)
    if budget_left is not None:
        want = fit_budget(want, budget_left, priority=value)
    return want


def fit_budget(
    want: np.ndarray, budget_left: int, priority: np.ndarray | None = None
) -> np.ndarray:
    """Trim a request vector to at most `budget_left` samples (deterministic).

    Requests are granted whole in order of `priority` (highest first; ties and no priority:
    query order); the first that no longer fits gets what is left, the rest nothing.
    """
    want = np.asarray(want, dtype=np.int64)
    total = int(want.sum())
    if total <= budget_left:
        return want
    if budget_left <= 0:
        return np.zeros_like(want)
    order = (
        np.arange(len(want))
        if priority is None
        else np.lexsort((np.arange(len(want)), -np.nan_to_num(priority, posinf=np.inf)))
    )
    csum = np.cumsum(want[order])
    granted = np.zeros_like(want)
    full = csum <= budget_left
    granted[order[full]] = want[order[full]]
    rest = budget_left - int(granted.sum())
    if rest > 0 and not full.all():
        cut = order[int(np.argmin(full))]
        granted[cut] = min(rest, int(want[cut]))
    return granted


def stop_counts(reasons: np.ndarray) -> dict[str, int]:
    """Queries per stop reason: every name of `STOP_REASONS`, then any other found (legacy)."""
    values = [r for r in reasons.tolist() if r is not None]
    out = {r: 0 for r in STOP_REASONS}
    for r in values:
        out[r] = out.get(r, 0) + 1
    return out


def budget_left(state: State, config: DarsConfig) -> int | None:
    """Raw samples the build may still draw (None: no budget set)."""
    if config.budget is None:
        return None
    return config.budget - int(state["samples"].sum())


def state_table(state: State) -> pa.Table:
    """The state as an Arrow table (level -1 becomes null)."""
    cols: dict[str, pa.Array] = {}
    for key, values in state.items():
        if key == "level":
            cols[key] = pa.array(values, type=pa.int32(), mask=values < 0)
        elif key in ("id", "source", "stop_reason"):
            cols[key] = pa.array(list(values), type=pa.string())
        elif key in STOP_PRICE_COLUMNS:  # null until the query stops
            cols[key] = pa.array(values, type=pa.float64(), mask=np.isnan(values))
        else:
            cols[key] = pa.array(values)
    return pa.table(cols)


def save_state(state: State, path: str | Path) -> None:
    """Write the state atomically as parquet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    from dart_hf.outputs import disk_full

    with disk_full(path, tmp):  # a full disk names the state, not the build's folder
        pq.write_table(state_table(state), tmp)
        tmp.replace(path)


def load_state(path: str | Path) -> State:
    """Read a state written by `save_state`."""
    table = pq.read_table(path)
    out: State = {}
    for name in table.column_names:
        col = table.column(name)
        if name == "level":
            out[name] = np.asarray(col.fill_null(-1).to_numpy(), dtype=np.int64)
        elif name in ("id", "source", "stop_reason"):
            out[name] = np.asarray(col.to_pylist(), dtype=object)
        else:
            out[name] = col.to_numpy(zero_copy_only=False).copy()
    return out


def load_fail_rates(path: str | Path, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fail rates (and their sample counts) of `ids` from an earlier run's table.

    Accepts a query-info or state parquet with columns `id`, `fail_rate` and optionally
    `fail_rate_samples`. Raises DartError naming the file when a column or a query is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise DartError(f"fail_rate_from: file not found: {path}")
    table = pq.read_table(path)
    for col in ("id", "fail_rate"):
        if col not in table.column_names:
            raise DartError(
                f"fail_rate_from {path}: missing column {col!r}; columns: "
                + ", ".join(table.column_names)
            )
    frs = (
        table.column("fail_rate_samples").to_pylist()
        if "fail_rate_samples" in table.column_names
        else [0] * table.num_rows
    )
    known = dict(
        zip(
            table.column("id").to_pylist(),
            zip(table.column("fail_rate").to_pylist(), frs, strict=False),
            strict=False,
        )
    )
    missing = [i for i in ids if i not in known or known[i][0] is None]
    if missing:
        raise DartError(
            f"fail_rate_from {path}: no fail_rate for {len(missing)} of {len(ids)} queries "
            f"(e.g. {missing[0]!r})"
        )
    fr = np.asarray([known[i][0] for i in ids], dtype=np.float64)
    if np.any((fr < 0) | (fr > 1)):
        raise DartError(f"fail_rate_from {path}: fail_rate values must lie in [0, 1]")
    return fr, np.asarray([known[i][1] or 0 for i in ids], dtype=np.int64)
