"""Beliefs about each query's pass rate: the prior per level (a share that can never be solved,
else Beta(a, b), fitted to the pool's counts with `passrate`), posteriors and their means."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from dart_hf.config import DarsConfig
from dart_hf.dars import passrate
from dart_hf.dars.state import PRIOR_COLUMNS, State


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
