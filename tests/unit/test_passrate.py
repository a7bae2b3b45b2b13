"""dars/passrate.py: the pass-rate grid, its likelihood, posteriors and the NPMLE prior (EM).

Expectations are computed here from their definitions (binomial likelihoods, Bayes' rule,
Beta moments), not from the module."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dart_hf.dars import passrate


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_grid_is_zero_then_even_in_logit() -> None:
    p = passrate.grid()
    assert len(p) == passrate.GRID_SIZE == 81 and p[0] == 0.0
    assert p[1] == pytest.approx(1e-5) and p[-1] == pytest.approx(1 - 1e-4)
    steps = np.diff(_logit(p[1:]))
    assert np.allclose(steps, steps[0]) and steps[0] > 0
    assert len(passrate.grid(11)) == 11


def test_beta_weights_is_the_stated_zero_inflated_shape() -> None:
    a, b = 0.5, 2.0
    w = passrate.beta_weights(0.1, a, b)
    assert w.sum() == pytest.approx(1.0) and w[0] == pytest.approx(0.1)
    p = passrate.P
    shape = p[1:] ** a * (1 - p[1:]) ** b
    assert np.allclose(w[1:], 0.9 * shape / shape.sum())


def test_log_lik_is_the_binomial_without_its_coefficient() -> None:
    c, n = np.array([0, 3, 10]), np.array([10, 10, 10])
    ll = passrate.log_lik(c, n)
    p = passrate.P
    for i in range(3):
        for k in (1, 20, 40, 80):
            want = c[i] * math.log(p[k]) + (n[i] - c[i]) * math.log(1 - p[k])
            assert ll[i, k] == pytest.approx(want)
    # p = 0 explains only "none correct"
    assert ll[0, 0] == 0.0 and ll[1, 0] == -np.inf and ll[2, 0] == -np.inf


def test_posterior_is_prior_times_likelihood() -> None:
    prior = passrate.beta_weights(0.2, 0.5, 0.5)
    c, n = np.array([2, 0]), np.array([8, 50])
    post = passrate.posterior(c, n, prior)
    p = passrate.P
    for i in range(2):
        lik = p ** c[i] * (1 - p) ** (n[i] - c[i])
        want = prior * lik / (prior * lik).sum()
        assert np.allclose(post[i], want)
    assert post[0, 0] == 0.0  # solved once: never unsolvable
    assert post[1, 0] > prior[0]  # 50 misses: more likely unsolvable than before
    per_query = np.tile(prior, (2, 1))
    assert np.allclose(passrate.posterior(c, n, per_query), post)


def test_fit_grid_finds_the_unsolvable_share_and_the_mode() -> None:
    rng = np.random.default_rng(0)
    n = np.full(600, 200)
    c = np.concatenate([np.zeros(300, dtype=int), rng.binomial(200, 0.5, 300)])
    start = passrate.beta_weights(0.1, 0.5, 0.5)
    w = passrate.fit_grid(c, n, start)
    p = passrate.P
    assert w.sum() == pytest.approx(1.0)
    assert w[p < 1e-3].sum() == pytest.approx(0.5, abs=0.02)
    assert w[(p > 0.35) & (p < 0.65)].sum() == pytest.approx(0.5, abs=0.02)

    def total(weights: np.ndarray) -> float:
        lik = p[None, :] ** c[:, None] * (1 - p[None, :]) ** (n - c)[:, None]
        return float(np.log(lik @ weights).sum())

    assert total(w) > total(start)  # EM raises the likelihood
    assert np.array_equal(w, passrate.fit_grid(c, n, start))  # deterministic (resume)


def test_fit_grid_pool_borrows_the_pooled_fit_for_small_levels() -> None:
    rng = np.random.default_rng(1)
    m = passrate.MIN_QUERIES
    levels = np.array([1] * m + [5] * 10)
    n = np.full(len(levels), 64)
    c = np.concatenate([rng.binomial(64, 0.9, m), np.zeros(10, dtype=int)])
    start = passrate.beta_weights(0.1, 0.5, 0.5)
    uniq, fits = passrate.fit_grid_pool(levels, c, n, start)
    assert uniq.tolist() == [1, 5]
    assert np.array_equal(fits[0], passrate.fit_grid(c[:m], n[:m], start))
    assert np.array_equal(fits[1], passrate.fit_grid(c, n, start))  # pooled
    _, unsampled = passrate.fit_grid_pool(levels, c * 0, n * 0, start)
    assert np.array_equal(unsampled, np.tile(start, (2, 1)))


def test_summary_matches_the_mean_and_variance() -> None:
    w = np.zeros(passrate.GRID_SIZE)
    w[0], w[30], w[60] = 0.25, 0.375, 0.375
    zero, a, b = passrate.summary(w)
    p1, p2 = passrate.P[30], passrate.P[60]
    mean, var = (p1 + p2) / 2, ((p2 - p1) / 2) ** 2
    assert zero == 0.25
    assert a / (a + b) == pytest.approx(mean)
    assert a * b / ((a + b) ** 2 * (a + b + 1)) == pytest.approx(var)
