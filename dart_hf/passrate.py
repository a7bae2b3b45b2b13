"""Pass-rate beliefs of the DARS yield rule: the pool's prior (empirical Bayes) and posteriors.

Every query's pass rate p is modelled as: with probability `zero` it can never be solved (a
wrong gold answer, a problem beyond the model), else p ~ Beta(a, b). The prior of a level is
fitted by maximum likelihood to the counts (correct c of n samples) of every query of that
level, the zero-inflated beta-binomial

    c > 0:  (1 - zero) B(a + c, b + n - c) / B(a, b)
    c = 0:  zero + (1 - zero) B(a, b + n) / B(a, b)

(binomial coefficients dropped). Stopping depends only on observed counts, so the likelihood
may ignore why a query has the samples it has. A level with fewer than `MIN_QUERIES` queries
uses the fit of the whole pool; a pool with no samples uses the stated fallback prior.

Pure numpy (no scipy): `lgamma` is a vectorised Lanczos approximation.
"""

from __future__ import annotations

import math

import numpy as np

MIN_QUERIES = 50
"""Levels with fewer queries borrow the pool-wide fit."""
BOUNDS = ((1e-4, 0.9), (0.02, 1.0), (0.02, 50.0))
"""(zero, a, b) are kept inside these bounds."""
_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def lgamma(x: np.ndarray | float) -> np.ndarray:
    """log Gamma(x) for x > 0, vectorised (Lanczos, g = 7; relative error ~1e-13)."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 0.5
    # Gamma(x) = Gamma(x + 1) / x keeps the series in its accurate range.
    z = np.where(small, x + 1.0, x) - 1.0
    s = np.full_like(z, _LANCZOS[0])
    for i, coef in enumerate(_LANCZOS[1:], start=1):
        s = s + coef / (z + i)
    t = z + 7.5
    out = _HALF_LOG_2PI + (z + 0.5) * np.log(t) - t + np.log(s)
    return np.where(small, out - np.log(np.where(small, x, 1.0)), out)


def lbeta(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """log B(a, b)."""
    return lgamma(a) + lgamma(b) - lgamma(np.asarray(a) + np.asarray(b))


def log_likelihood(
    theta: tuple[float, float, float], c: np.ndarray, n: np.ndarray, w: np.ndarray
) -> float:
    """Zero-inflated beta-binomial log-likelihood of counts (c of n), weighted by `w`."""
    zero, a, b = theta
    base = lbeta(a, b)
    some = c > 0
    ll = np.empty(len(c))
    ll[some] = math.log1p(-zero) + lbeta(a + c[some], b + n[some] - c[some]) - base
    none = ~some
    lik0 = np.exp(lbeta(a, b + n[none]) - base)
    ll[none] = np.log(zero + (1 - zero) * lik0)
    return float((w * ll).sum())


def _to_theta(x: np.ndarray) -> tuple[float, float, float]:
    (z_lo, z_hi), (a_lo, a_hi), (b_lo, b_hi) = BOUNDS
    zero = z_lo + (z_hi - z_lo) / (1 + math.exp(-x[0]))
    a = float(np.clip(math.exp(x[1]), a_lo, a_hi))
    b = float(np.clip(math.exp(x[2]), b_lo, b_hi))
    return zero, a, b


def _from_theta(theta: tuple[float, float, float]) -> np.ndarray:
    (z_lo, z_hi), _, _ = BOUNDS
    u = (min(max(theta[0], z_lo * 1.01), z_hi * 0.99) - z_lo) / (z_hi - z_lo)
    return np.array([math.log(u / (1 - u)), math.log(theta[1]), math.log(theta[2])])


def fit(
    corrects: np.ndarray,
    samples: np.ndarray,
    start: tuple[float, float, float],
    iterations: int = 200,
    step: float = 0.7,
) -> tuple[float, float, float]:
    """Maximum-likelihood (zero, a, b) of a group of queries (deterministic Nelder-Mead)."""
    pairs, weight = np.unique(
        np.stack([np.asarray(corrects), np.asarray(samples)], axis=1), axis=0, return_counts=True
    )
    c = pairs[:, 0].astype(np.float64)
    n = pairs[:, 1].astype(np.float64)
    w = weight.astype(np.float64)

    def cost(x: np.ndarray) -> float:
        return -log_likelihood(_to_theta(x), c, n, w)

    x0 = _from_theta(start)
    simplex = [x0] + [x0 + e for e in np.eye(3) * step]
    values = [cost(x) for x in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if abs(values[-1] - values[0]) < 1e-7 * (1 + abs(values[0])):
            break
        centre = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        refl = centre + (centre - worst)
        f_refl = cost(refl)
        if f_refl < values[0]:
            exp_ = centre + 2 * (centre - worst)
            f_exp = cost(exp_)
            simplex[-1], values[-1] = (exp_, f_exp) if f_exp < f_refl else (refl, f_refl)
        elif f_refl < values[-2]:
            simplex[-1], values[-1] = refl, f_refl
        else:
            contr = centre + 0.5 * (worst - centre)
            f_contr = cost(contr)
            if f_contr < values[-1]:
                simplex[-1], values[-1] = contr, f_contr
            else:
                best = simplex[0]
                simplex = [best] + [best + 0.5 * (x - best) for x in simplex[1:]]
                values = [values[0]] + [cost(x) for x in simplex[1:]]
    return _to_theta(simplex[int(np.argmin(values))])


def fit_pool(
    levels: np.ndarray,
    corrects: np.ndarray,
    samples: np.ndarray,
    fallback: tuple[float, float, float],
    start: np.ndarray | None = None,
) -> tuple[dict[int, tuple[float, float, float]], np.ndarray]:
    """The prior of every level: {level: (zero, a, b)} and a (queries, 3) array per query.

    `start` (queries, 3): the previous fit per query (the state's prior columns), where the
    search starts, so a refit after one more round takes few steps. The result depends only
    on its arguments, so a resumed build refits exactly as an uninterrupted one.
    """
    levels = np.asarray(levels)
    sampled = np.asarray(samples) > 0
    per_query = np.tile(np.asarray(fallback, dtype=np.float64), (len(levels), 1))
    if not sampled.any():
        return {int(lv): fallback for lv in np.unique(levels)}, per_query

    def begin(mask: np.ndarray, default: tuple[float, float, float]) -> tuple:
        if start is None or not mask.any():
            return default
        return tuple(float(v) for v in np.asarray(start)[mask][0])

    groups = [(int(lv), (levels == lv) & sampled) for lv in np.unique(levels)]
    pooled = fallback
    if start is None or any(m.sum() < MIN_QUERIES for _, m in groups):
        pooled = fit(corrects[sampled], samples[sampled], fallback)
    step = 0.7 if start is None else 0.15  # a warm start only needs a small simplex
    out: dict[int, tuple[float, float, float]] = {}
    for lv, m in groups:
        if m.sum() >= MIN_QUERIES:
            out[lv] = fit(
                corrects[m],
                samples[m],
                begin(levels == lv, pooled),
                iterations=200 if start is None else 40,
                step=step,
            )
        else:
            out[lv] = pooled
        per_query[levels == lv] = out[lv]
    return out, per_query


def first_chance(
    failures: np.ndarray,
    zero: np.ndarray | float,
    a: np.ndarray | float,
    b: np.ndarray | float,
    horizon: int,
) -> np.ndarray:
    """P(a first correct response within `horizon` more samples | none in `failures`).

    (1 - z_n) (1 - B(a, b + n + h) / B(a, b + n)), with z_n = zero / (zero + (1 - zero)
    B(a, b + n) / B(a, b)) the posterior chance that the query can never be solved.
    """
    n = np.asarray(failures, dtype=np.float64)
    bn = b + n
    chance = -np.expm1(lbeta(a, bn + horizon) - lbeta(a, bn))
    solvable = (1 - zero) * np.exp(lbeta(a, bn) - lbeta(a, b))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(solvable > 0, solvable / (zero + solvable), 0.0)
    return chance * share
