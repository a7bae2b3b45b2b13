"""Scheduler benchmark: the production DARS scheduler against the reference policy and an oracle.

Not run in CI. Simulates 15,000 queries with per-query pass rates drawn from a stated
distribution and draws Bernoulli outcomes directly (as binomial counts; no text), but every
scheduling and stopping decision of "dars" goes through `dart_hf.dars` (`schedule`,
`apply_stop_rules`, `freeze_difficulty`, `update_counts`), the functions the build uses.

Pass-rate distribution (per query):
  GSM8K (level 0, 7,500 queries): Beta(8, 1)   (mean 0.89)
  MATH  (7,500 queries, level shares of MATH train 8.7/19.6/22.7/23.8/25.2%):
        L1 Beta(6, 1), L2 Beta(4, 1), L3 Beta(3, 1.2), L4 Beta(2, 1.5), L5 Beta(1, 2.5)
  plus a tail at zero: p = 0 for 1% (GSM8K) / 1, 2, 3, 5, 8% (MATH L1..L5) of the queries
  (wrong gold answers, problems beyond the model). Beta(1, 2.5) also puts ~2.5% of L5 below 0.01.

Policies (all share the same difficulty phase of `difficulty_samples` per query):
  dars       the production scheduler and stop rules (adaptive per-query counts, >= t).
  reference  the reference code's loop: one request per unfinished query per sweep, sweeps
             concatenated into 16,384-request batches, counts updated after each batch,
             a query finishes on corrects > t (strict) or max_trials samples.
  oracle     knows every pass rate: samples one at a time and stops exactly at the t-th
             correct (or max_trials); never samples a query whose pass rate is 0.

Usage: python benchmarks/bench_scheduler.py [--seed 0] [--queries 15000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dart_hf import dars
from dart_hf.config import DarsConfig

BATCH = 16_384
LEVEL_SHARE = [0.087, 0.196, 0.227, 0.238, 0.252]
BETA = {0: (8, 1), 1: (6, 1), 2: (4, 1), 3: (3, 1.2), 4: (2, 1.5), 5: (1, 2.5)}
ZERO = {0: 0.01, 1: 0.01, 2: 0.02, 3: 0.03, 4: 0.05, 5: 0.08}


def pass_rates(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Levels and pass rates of `n` simulated queries (half GSM8K, half MATH)."""
    n_gsm = n // 2
    math_levels = rng.choice(np.arange(1, 6), size=n - n_gsm, p=np.array(LEVEL_SHARE) / 1.0)
    levels = np.concatenate([np.zeros(n_gsm, dtype=np.int64), math_levels])
    p = np.empty(n)
    for lv, (a, b) in BETA.items():
        m = levels == lv
        p[m] = rng.beta(a, b, size=m.sum())
        p[m & (rng.random(n) < ZERO[lv])] = 0.0
    return levels, p


def phase(p: np.ndarray, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Difficulty phase: d samples per query; returns (samples, corrects)."""
    return np.full(len(p), d, dtype=np.int64), rng.binomial(d, p).astype(np.int64)


def run_dars(p, levels, cfg: DarsConfig, ph, rng) -> dict:
    """Production scheduler: rounds of schedule -> sample -> count -> stop rules."""
    ids = [str(i) for i in range(len(p))]
    st = dars.new_state(ids, list(levels), ["sim"] * len(p))
    st["samples"], st["corrects"] = ph[0].copy(), ph[1].copy()
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
    rounds = 0
    while not st["done"].all():
        n = dars.schedule(st, cfg, dars.budget_left(st, cfg))
        hits = rng.binomial(n, p)
        st["samples"] = st["samples"] + n
        st["corrects"] = st["corrects"] + hits
        st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
        rounds += 1
    reasons = {r: int((st["stop_reason"] == r).sum()) for r in dars.STOP_REASONS}
    return {
        "samples": st["samples"],
        "corrects": st["corrects"],
        "target": st["target"],
        "rounds": rounds,
        "stop_reasons": reasons,
    }


def run_reference(p, target, cfg: DarsConfig, ph, rng) -> dict:
    """Reference loop: sweeps over unfinished queries, counts updated per 16,384 requests."""
    samples, corrects = ph[0].copy(), ph[1].copy()
    pos = 0
    batches = 0
    while True:
        unfinished = np.flatnonzero((corrects <= target) & (samples < cfg.max_trials))
        if len(unfinished) == 0:
            break
        u = len(unfinished)
        full, rem = divmod(BATCH, u)
        n = np.full(u, full, dtype=np.int64)
        start = pos % u
        idx = (start + np.arange(rem)) % u
        n[idx] += 1
        pos = start + rem
        n = np.minimum(n, cfg.max_trials - samples[unfinished])
        hits = rng.binomial(n, p[unfinished])
        samples[unfinished] += n
        corrects[unfinished] += hits
        batches += 1
    return {"samples": samples, "corrects": corrects, "target": target, "rounds": batches}


def run_oracle(p, target, cfg: DarsConfig, ph, rng) -> dict:
    """Knows p: stops exactly at the t-th correct, never samples p = 0."""
    samples, corrects = ph[0].copy(), ph[1].copy()
    need = np.maximum(target - corrects, 0)
    live = (need > 0) & (p > 0)
    trials = np.zeros(len(p), dtype=np.int64)
    trials[live] = rng.negative_binomial(need[live], p[live]) + need[live]
    room = cfg.max_trials - samples
    capped = trials > room
    trials = np.minimum(trials, room)
    got = need.copy()
    got[~live] = 0
    got[capped] = rng.binomial(room[capped], p[capped])
    got = np.minimum(got, need)
    samples += trials
    corrects += got
    return {"samples": samples, "corrects": corrects, "target": target, "rounds": 0}


def summary(res: dict, levels: np.ndarray) -> dict:
    kept = np.minimum(res["corrects"], res["target"])
    out = {
        "raw_samples": int(res["samples"].sum()),
        "kept_rows": int(kept.sum()),
        "share_at_target": float((res["corrects"] >= res["target"]).mean()),
        "coverage": float((kept >= 1).mean()),
        "rounds_or_batches": res["rounds"],
        "mean_kept_by_level": {
            int(lv): round(float(kept[levels == lv].mean()), 2) for lv in range(6)
        },
    }
    if "stop_reasons" in res:
        out["stop_reasons"] = res["stop_reasons"]
    return out


def bench(strategy: str, cfg: DarsConfig, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    levels, p = pass_rates(n, rng)
    ph = phase(p, cfg.difficulty_samples, rng)
    t0 = time.perf_counter()
    ours = run_dars(p, levels, cfg, ph, np.random.default_rng(seed + 1))
    wall = time.perf_counter() - t0
    target = ours["target"]
    ref = run_reference(p, target, cfg, ph, np.random.default_rng(seed + 2))
    orc = run_oracle(p, target, cfg, ph, np.random.default_rng(seed + 3))
    s = {k: summary(v, levels) for k, v in (("dars", ours), ("reference", ref), ("oracle", orc))}
    base = s["reference"]
    return {
        "strategy": strategy,
        "settings": {
            k: getattr(cfg, k)
            for k in (
                "k_u",
                "k_p",
                "max_trials",
                "difficulty_samples",
                "round_cap",
                "safety",
                "growth",
                "p_floor",
                "hopeless_min_samples",
                "hopeless_alpha",
            )
        },
        "policies": s,
        "ratio_raw_samples_vs_reference": {
            k: round(v["raw_samples"] / base["raw_samples"], 3) for k, v in s.items()
        },
        "kept_rows_rel_diff": round(s["dars"]["kept_rows"] / base["kept_rows"] - 1, 4),
        "coverage_diff": round(s["dars"]["coverage"] - base["coverage"], 4),
        "share_at_target_diff": round(s["dars"]["share_at_target"] - base["share_at_target"], 4),
        "dars_wall_s": round(wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, default=15_000)
    args = ap.parse_args()
    common = dict(
        difficulty_samples=16,
        round_cap=1024,
        safety=1.0,
        growth=1.0,
        p_floor=0.01,
        hopeless_min_samples=64,
        hopeless_alpha=0.05,
    )
    runs = [
        ("uniform", DarsConfig(strategies=("uniform",), k_u=40, max_trials=2048, **common)),
        ("prop2diff", DarsConfig(strategies=("prop2diff",), k_p=192, max_trials=8192, **common)),
    ]
    results = [bench(name, cfg, args.queries, args.seed) for name, cfg in runs]
    print(json.dumps(results, indent=1))
    for r in results:
        print(
            f"{r['strategy']:>9}: dars/reference raw samples = "
            f"{r['ratio_raw_samples_vs_reference']['dars']:.3f} (oracle "
            f"{r['ratio_raw_samples_vs_reference']['oracle']:.3f}); "
            f"kept rows {r['kept_rows_rel_diff']:+.2%}, "
            f"coverage {r['coverage_diff']:+.2%}, share at target {r['share_at_target_diff']:+.2%}"
        )


if __name__ == "__main__":
    main()
