"""Pass-rate models for the scheduler benchmark, fixed before any scheduler setting was tuned.

A model gives, per level (GSM8K = 0, MATH 1-5), a mixture of per-query pass-rate
distributions. Components: ("beta", a, b), ("zero",) for queries that can never be solved
(wrong gold answers, problems beyond the model), ("logu", lo, hi) for a pass rate uniform in
log10 between 10**lo and 10**hi. Pools are half GSM8K, half MATH with MATH train's level
shares (8.7/19.6/22.7/23.8/25.2%) unless a model says otherwise.

`FAMILY` is what the scheduler's defaults may be chosen on; `HELD_OUT` is reported separately
and was not looked at while choosing them. Do not edit either after tuning: add new models.
"""

from __future__ import annotations

import numpy as np

LEVEL_SHARE = (0.087, 0.196, 0.227, 0.238, 0.252)

Component = tuple  # ("beta", a, b) | ("zero",) | ("logu", lo, hi), weight first
Model = dict  # {"gsm8k_share": float, "levels": {level: [(weight, component...), ...]}}

FAMILY: dict[str, Model] = {
    # The benchmark's original model: moderate Betas, a small zero tail growing with level.
    "base": {
        "gsm8k_share": 0.5,
        "levels": {
            0: [(0.99, "beta", 8, 1), (0.01, "zero")],
            1: [(0.99, "beta", 6, 1), (0.01, "zero")],
            2: [(0.98, "beta", 4, 1), (0.02, "zero")],
            3: [(0.97, "beta", 3, 1.2), (0.03, "zero")],
            4: [(0.95, "beta", 2, 1.5), (0.05, "zero")],
            5: [(0.92, "beta", 1, 2.5), (0.08, "zero")],
        },
    },
    # The heavy near-zero tails: concentrations below 2, L5 mean ~0.15 with most of
    # its mass near zero, GSM8K mean ~0.7 with a wide spread.
    "heavy_tail": {
        "gsm8k_share": 0.5,
        "levels": {
            0: [(0.99, "beta", 1.4, 0.6), (0.01, "zero")],
            1: [(0.99, "beta", 1.3, 0.5), (0.01, "zero")],
            2: [(0.98, "beta", 1.0, 0.6), (0.02, "zero")],
            3: [(0.97, "beta", 0.7, 0.8), (0.03, "zero")],
            4: [(0.96, "beta", 0.5, 1.1), (0.04, "zero")],
            5: [(0.95, "beta", 0.3, 1.7), (0.05, "zero")],
        },
    },
    # Bimodal: every level mixes a near-zero mode and an easy mode; harder levels weigh
    # the near-zero mode more.
    "bimodal": {
        "gsm8k_share": 0.5,
        "levels": {
            0: [(0.10, "beta", 0.4, 4), (0.89, "beta", 6, 0.7), (0.01, "zero")],
            1: [(0.10, "beta", 0.4, 4), (0.89, "beta", 6, 0.7), (0.01, "zero")],
            2: [(0.20, "beta", 0.4, 4), (0.78, "beta", 5, 0.8), (0.02, "zero")],
            3: [(0.30, "beta", 0.4, 4), (0.67, "beta", 4, 0.9), (0.03, "zero")],
            4: [(0.45, "beta", 0.4, 4), (0.51, "beta", 3, 1.0), (0.04, "zero")],
            5: [(0.60, "beta", 0.4, 4), (0.35, "beta", 2, 1.0), (0.05, "zero")],
        },
    },
    # Wrong gold answers: 5-15% of every level can never be solved.
    "wrong_gold": {
        "gsm8k_share": 0.5,
        "levels": {
            0: [(0.95, "beta", 6, 1), (0.05, "zero")],
            1: [(0.94, "beta", 4, 1), (0.06, "zero")],
            2: [(0.92, "beta", 3, 1), (0.08, "zero")],
            3: [(0.90, "beta", 2, 1.2), (0.10, "zero")],
            4: [(0.88, "beta", 1.2, 1.5), (0.12, "zero")],
            5: [(0.85, "beta", 0.8, 2.5), (0.15, "zero")],
        },
    },
    # GSM8K-like easy pool: mostly GSM8K, high pass rates, few hard queries.
    "easy_pool": {
        "gsm8k_share": 0.8,
        "levels": {
            0: [(0.995, "beta", 12, 1), (0.005, "zero")],
            1: [(0.995, "beta", 10, 1), (0.005, "zero")],
            2: [(0.99, "beta", 8, 1), (0.01, "zero")],
            3: [(0.99, "beta", 6, 1), (0.01, "zero")],
            4: [(0.98, "beta", 4, 1), (0.02, "zero")],
            5: [(0.97, "beta", 2, 1), (0.03, "zero")],
        },
    },
    # Log-uniform tail: a share of each level has a pass rate spread evenly in log10 over
    # 1e-4 .. 1e-1 (queries solved once in hundreds to thousands of samples).
    "log_tail": {
        "gsm8k_share": 0.5,
        "levels": {
            0: [(0.05, "logu", -4, -1), (0.94, "beta", 5, 1), (0.01, "zero")],
            1: [(0.05, "logu", -4, -1), (0.94, "beta", 5, 1), (0.01, "zero")],
            2: [(0.10, "logu", -4, -1), (0.88, "beta", 3, 1), (0.02, "zero")],
            3: [(0.20, "logu", -4, -1), (0.77, "beta", 2, 1), (0.03, "zero")],
            4: [(0.30, "logu", -4, -1), (0.66, "beta", 1.5, 1.5), (0.04, "zero")],
            5: [(0.45, "logu", -4, -1), (0.49, "beta", 1, 2), (0.06, "zero")],
        },
    },
}

HELD_OUT: dict[str, Model] = {
    # Harder overall than anything in the family, 12% unsolvable on MATH.
    "held_hard": {
        "gsm8k_share": 0.4,
        "levels": {
            0: [(0.97, "beta", 2, 1), (0.03, "zero")],
            1: [(0.90, "beta", 1.5, 1), (0.10, "zero")],
            2: [(0.88, "beta", 1, 1), (0.12, "zero")],
            3: [(0.88, "beta", 0.7, 1.5), (0.12, "zero")],
            4: [(0.88, "beta", 0.5, 2), (0.12, "zero")],
            5: [(0.88, "beta", 0.4, 3), (0.12, "zero")],
        },
    },
    # Three modes: easy, a point cloud around 3e-3 (log-uniform 1e-3 .. 1e-2), and zero.
    "held_three_modes": {
        "gsm8k_share": 0.5,
        "levels": {
            0: [(0.90, "beta", 9, 1), (0.08, "logu", -3, -2), (0.02, "zero")],
            1: [(0.88, "beta", 7, 1), (0.10, "logu", -3, -2), (0.02, "zero")],
            2: [(0.80, "beta", 5, 1), (0.17, "logu", -3, -2), (0.03, "zero")],
            3: [(0.70, "beta", 4, 1.5), (0.26, "logu", -3, -2), (0.04, "zero")],
            4: [(0.55, "beta", 3, 2), (0.39, "logu", -3, -2), (0.06, "zero")],
            5: [(0.40, "beta", 2, 2), (0.52, "logu", -3, -2), (0.08, "zero")],
        },
    },
}

MODELS: dict[str, Model] = {**FAMILY, **HELD_OUT}


def draw(model: Model, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Levels and pass rates of `n` simulated queries under `model`."""
    n_gsm = int(round(n * model["gsm8k_share"]))
    shares = np.asarray(LEVEL_SHARE) / sum(LEVEL_SHARE)
    math_levels = rng.choice(np.arange(1, 6), size=n - n_gsm, p=shares)
    levels = np.concatenate([np.zeros(n_gsm, dtype=np.int64), math_levels])
    p = np.zeros(n)
    for lv, comps in model["levels"].items():
        idx = np.flatnonzero(levels == lv)
        weights = np.asarray([c[0] for c in comps], dtype=np.float64)
        pick = rng.choice(len(comps), size=len(idx), p=weights / weights.sum())
        for k, comp in enumerate(comps):
            sel = idx[pick == k]
            kind = comp[1]
            if kind == "beta":
                p[sel] = rng.beta(comp[2], comp[3], size=len(sel))
            elif kind == "logu":
                p[sel] = 10.0 ** rng.uniform(comp[2], comp[3], size=len(sel))
            elif kind == "zero":
                p[sel] = 0.0
            else:
                raise ValueError(f"unknown component {kind!r}")
    return levels, p
