"""The yield rule's prices: what a further sample is expected to give (rows and a level's
coverage), and the price set every round so that the projected loss stays within
`row_loss` and `coverage_loss`."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from dart_hf.config import DarsConfig
from dart_hf.dars import passrate
from dart_hf.dars.prior import Beliefs, beliefs
from dart_hf.dars.state import GIVEN_UP, PRIOR_COLUMNS, State
from dart_hf.strategies import STRATEGIES

HORIZON = 1000
"""The yield rule's horizon: values are per 1,000 further samples."""


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
        state.get(f"target_{name}", t) for name in config.strategies if STRATEGIES[name].counts_correct
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
            + np.where(mean[open_some, None] < p[None, :], full[open_some, None], cum[open_some]).sum(axis=0)
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


def _none_parts(weights: np.ndarray, target: float, config: DarsConfig) -> tuple[np.ndarray, np.ndarray]:
    """`none_curve` is linear in W: (E[p | none in n], E[p S(p) | none in n]) over n."""
    price = config.min_yield or 0.0
    p = passrate.P
    n = np.arange(config.max_trials + 1, dtype=np.float64)
    safe = np.where(p > 0, p, 1.0)
    above = np.where(p > 0, np.clip(1.0 - price / (HORIZON * safe), 0.0, 1.0), 0.0)
    unlock = above * np.minimum(max(target - 1.0, 0.0), np.maximum(config.max_trials - n, 0)[:, None] * p)
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


def first_stops(state: State, config: DarsConfig, price: float, pricing: Pricing | None = None) -> np.ndarray:
    """`first_stop_samples` of every query under its own prior, for one price."""
    return FirstStops(pricing if pricing is not None else Pricing(state, config))(price)


class FirstStops:
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
