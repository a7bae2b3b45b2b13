"""The scheduler: stop rules over the state at the current prices, and how many samples each
unfinished query gets in the next round under the build's budget."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from dart_hf.config import DarsConfig
from dart_hf.dars.prices import HORIZON, FirstStops, Pricing, fit_prior, yield_rates
from dart_hf.dars.state import STOP_PRICE_COLUMNS, State


def stop_masks(state: State, config: DarsConfig, pricing: Pricing | None = None) -> dict[str, np.ndarray]:
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
    no_correct &= n >= FirstStops(pricing)(price)
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
    return value, to_target, state["corrects"] > 0, FirstStops(pricing)


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
    than the reference's round robin on coverage (perf/bench_scheduler.py).
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
    first = np.maximum(FirstStops(pricing)(price) - samples, 1)
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


def fit_budget(want: np.ndarray, budget_left: int, priority: np.ndarray | None = None) -> np.ndarray:
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
