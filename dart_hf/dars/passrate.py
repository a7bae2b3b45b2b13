"""Pass-rate beliefs of the DARS yield rule: the pool's prior (empirical Bayes) and posteriors.

A query's pass rate p is believed to lie on a fixed grid `P`: p = 0 (a query that can never
be solved: a wrong gold answer, a problem beyond the model) and 80 rates from 1e-5 to
1 - 1e-4, even in logit. A level's prior is the nonparametric maximum-likelihood mixture
over the grid (Kiefer-Wolfowitz, by EM) of its queries' counts, c correct of n samples:

    maximise  sum_q log sum_k w_k p_k^c (1 - p_k)^(n - c)

(binomial coefficients dropped; stopping depends only on observed counts, so the likelihood
may ignore why a query has the samples it has). EM starts from the stated prior, a
zero-inflated Beta on the grid, and that is what stays where the counts say nothing (rates
far below 1 / samples). No parametric shape is imposed on the rest, so a bimodal level, a
heavy near-zero tail and a share of wrong golds are each fitted as they are. A query's
posterior is the prior times its own likelihood (the Beta-Binomial update on the grid).
A level with fewer than `MIN_QUERIES` sampled queries uses the fit of the whole pool.

Pure numpy.
"""

from __future__ import annotations

import math

import numpy as np

MIN_QUERIES = 50
"""Levels with fewer queries borrow the pool-wide fit."""
EM_ITERATIONS = 150
"""EM steps per fit, from the stated prior (deterministic: a resumed build refits equally)."""


GRID_SIZE = 81
"""Support points of a discretised pass-rate belief: p = 0 and 80 points even in logit."""


def grid(size: int = GRID_SIZE) -> np.ndarray:
    """Pass rates 0 and `size - 1` points from 1e-5 to 1 - 1e-4, even in logit."""
    x = np.linspace(math.log(1e-5 / (1 - 1e-5)), math.log((1 - 1e-4) / 1e-4), size - 1)
    return np.concatenate([[0.0], 1.0 / (1.0 + np.exp(-x))])


P = grid()
LOG_P = np.log(np.where(P > 0, P, 1.0))
LOG_Q = np.log1p(-P)


def beta_weights(zero: float, a: float, b: float) -> np.ndarray:
    """A zero-inflated Beta(a, b) on the grid: mass `zero` at p = 0, p^a (1-p)^b elsewhere."""
    lw = a * LOG_P[1:] + b * LOG_Q[1:]
    w = np.exp(lw - lw.max())
    w = (1 - zero) * w / w.sum()
    return np.concatenate([[zero], w])


def log_lik(corrects: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """(queries, grid) log-likelihood of c of n at every grid pass rate (no binomial factor)."""
    c = np.asarray(corrects, dtype=np.float64)[:, None]
    f = np.asarray(samples, dtype=np.float64)[:, None] - c
    ll = c * LOG_P[None, :] + f * LOG_Q[None, :]
    ll[:, 0] = np.where(c[:, 0] > 0, -np.inf, 0.0)
    return ll


def posterior(corrects: np.ndarray, samples: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(queries, grid) posterior over the grid; `weights` (queries, grid) or (grid,)."""
    with np.errstate(divide="ignore"):
        lw = log_lik(corrects, samples) + np.log(weights)
    lw -= lw.max(axis=1, keepdims=True)
    w = np.exp(lw)
    return w / w.sum(axis=1, keepdims=True)


def fit_grid(
    corrects: np.ndarray, samples: np.ndarray, start: np.ndarray, iterations: int = EM_ITERATIONS
) -> np.ndarray:
    """Nonparametric maximum-likelihood prior on the grid (EM from `start`; deterministic)."""
    pairs, count = np.unique(
        np.stack([np.asarray(corrects), np.asarray(samples)], axis=1), axis=0, return_counts=True
    )
    ll = log_lik(pairs[:, 0], pairs[:, 1])
    ll -= ll.max(axis=1, keepdims=True)
    lik = np.exp(ll)
    w = np.asarray(start, dtype=np.float64).copy()
    cw = count / count.sum()
    for _ in range(iterations):
        post = lik * w
        post /= post.sum(axis=1, keepdims=True)
        w = cw @ post
    return w


def fit_grid_pool(
    levels: np.ndarray,
    corrects: np.ndarray,
    samples: np.ndarray,
    start: np.ndarray,
    iterations: int = EM_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """The grid prior of every level: (level per group, (groups, grid) weights).

    Each level with at least `MIN_QUERIES` sampled queries gets its own fit, the others the
    pool-wide one; EM starts from `start` (the stated prior on the grid), which is also what
    stays where the counts say nothing (pass rates far below 1 / samples).
    """
    levels = np.asarray(levels)
    sampled = np.asarray(samples) > 0
    uniq = np.unique(levels)
    out = np.tile(np.asarray(start, dtype=np.float64), (len(uniq), 1))
    if not sampled.any():
        return uniq, out
    small = [(levels == lv) & sampled for lv in uniq]
    pooled = None
    for i, m in enumerate(small):
        if m.sum() >= MIN_QUERIES:
            out[i] = fit_grid(corrects[m], samples[m], start, iterations)
        else:
            if pooled is None:
                pooled = fit_grid(corrects[sampled], samples[sampled], start, iterations)
            out[i] = pooled
    return uniq, out


def summary(weights: np.ndarray) -> tuple[float, float, float]:
    """(zero, a, b) of a grid prior: its mass at p = 0 and the Beta of the same mean and
    variance over the rest (for the cards; the decisions use the grid itself)."""
    zero = float(weights[0])
    w = weights[1:] / max(1e-300, weights[1:].sum())
    mean = float(w @ P[1:])
    var = float(w @ (P[1:] - mean) ** 2)
    common = mean * (1 - mean) / max(var, 1e-12) - 1
    return zero, max(mean * common, 1e-4), max((1 - mean) * common, 1e-4)
