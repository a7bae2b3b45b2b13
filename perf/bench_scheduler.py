"""Scheduler benchmark: the DARS yield policy against the reference policy and an oracle.

Not run in CI. Simulates a pool of queries per pass-rate model (`scheduler_models.py`: a
family fixed before tuning, plus two held-out models) and draws Bernoulli outcomes directly
(as binomial counts; no text). Every scheduling and stopping decision of "ours" goes through
`dart_hf.dars` (`new_state`, `freeze_difficulty`, `schedule`, `apply_stop_rules`,
`budget_left`), driven by the build's own round step (`rounds.run`).

Policies (all share the same difficulty phase of `difficulty_samples` per query and the
same targets frozen from it):
  ours       the production policy: every query's marginal value per sample under its
             posterior (the level's nonparametric prior times its own counts;
             `dars.yield_rates`) against a price, `min_yield`, or under `--budget` the
             budget's shadow price common to all queries (`dars.budget_price`).
  reference  the reference code's loop: one request per unfinished query per sweep, sweeps
             concatenated into 16,384-request batches, counts updated after each batch, a
             query finishes on corrects > t (strict) or max_trials samples; "stopped at B"
             is its state after exactly B raw samples.
  oracle     knows every pass rate p: samples a query (exactly to its t-th correct, or
             max_trials) when p >= p_full, and one with none after the phase to its first
             correct response when p_first <= p < p_full; reported is the cheapest
             (p_full, p_first) that meets the paper-default goals (coverage within 1 point,
             kept rows within 1%, Level 5 coverage within 2 points of the reference's full
             run). Knowing p, it stops a query that can never be solved after the phase,
             which no policy that sees only counts can do.

Reported per model: the frontier (raw samples against kept rows, share at target, coverage,
overall and Level 5) of ours with `budget` B = 0.25x .. 1.0x of the reference's full run
(and min_yield 0, so the budget binds), beside the reference stopped at the same B, mean and
standard error over seeds; the default settings' point without a budget; the oracle.
Writes perf/results/bench_scheduler.{json,md} and bench_scheduler_<setup>.png.

Usage: python perf/bench_scheduler.py [--seeds 5] [--queries 15000] [--models a,b]
(the committed results: --seeds 5 --queries 4000, run as two halves of the models with
--json, then --report-from; about 20 minutes on two loaded cores)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scheduler_models  # noqa: E402

from dart_hf import dars
from dart_hf.build import rounds
from dart_hf.config import DarsConfig  # noqa: E402

BATCH = 16_384
FRACTIONS = (0.25, 0.4, 0.55, 0.7, 0.85, 1.0)
RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("kept_rows", "share_at_target", "coverage")
# The paper recipe's DARS settings (dart_hf/recipes/paper.yaml), per setup.
PAPER = dict(difficulty_samples=64, round_cap=1024, safety=1.0, growth=1.0, p_floor=0.01)
SETUPS = {
    "uniform": dict(strategies=("uniform",), k_u=40, max_trials=2048),
    "prop2diff": dict(strategies=("prop2diff",), k_p=192, max_trials=8192),
}
POOL = dict(strategies=("uniform", "prop2diff"), k_u=40, k_p=192, max_trials=8192)


# --------------------------------------------------------------------------- policies


def phase(p: np.ndarray, d: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Difficulty phase: d samples per query; returns (samples, corrects)."""
    return np.full(len(p), d, dtype=np.int64), rng.binomial(d, p).astype(np.int64)


def start_state(levels: np.ndarray, cfg: DarsConfig, ph: tuple) -> dars.State:
    """The state after the difficulty phase, with frozen targets (as the build has it)."""
    n = len(levels)
    st = dars.new_state([str(i) for i in range(n)], list(levels), ["sim"] * n)
    st["samples"], st["corrects"] = ph[0].copy(), ph[1].copy()
    return dars.freeze_difficulty(st, cfg)


class Simulated:
    """Round outcomes drawn as binomial counts (a `rounds.RoundSource`)."""

    def __init__(self, p: np.ndarray, rng: np.random.Generator) -> None:
        self.p, self.rng = p, rng

    def run(self, r: int, requests: np.ndarray, state: dars.State) -> rounds.Outcome | None:
        del r, state
        if not requests.any():
            return None
        return rounds.Outcome(requests, self.rng.binomial(requests, self.p))


def run_ours(p: np.ndarray, st: dars.State, cfg: DarsConfig, rng) -> dict:
    """Rounds of schedule -> sample -> count -> stop rules: the build's round step
    (`rounds.run`), with the phase's state given and binomial outcomes."""
    st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
    fixed = rounds.Phases(vote=None, fail_rate=None, freeze=lambda after, before: after)
    n_rounds = 0
    for _, step in rounds.run(st, 1, cfg, fixed, Simulated(p, rng)):
        st = step.state
        n_rounds += step.ran
    return {
        "samples": st["samples"],
        "corrects": st["corrects"],
        "rounds": n_rounds,
        "stop_reasons": dars.stop_counts(st["stop_reason"]),
        "state": st,
    }


def run_reference(p, target, max_trials, ph, rng, budgets=()) -> tuple[dict, list[dict]]:
    """Reference loop; returns its full run and its state after exactly each budget."""
    samples, corrects = ph[0].copy(), ph[1].copy()
    pos = 0
    todo = sorted(budgets)
    # The cut batches draw from their own stream, so the trajectory equals the full run's.
    snap_rng = np.random.default_rng(rng.integers(2**63))
    snaps: list[dict] = []
    while True:
        unfinished = np.flatnonzero((corrects <= target) & (samples < max_trials))
        if len(unfinished) == 0:
            break
        u = len(unfinished)
        full, rem = divmod(BATCH, u)
        n = np.full(u, full, dtype=np.int64)
        start = pos % u
        n[(start + np.arange(rem)) % u] += 1
        pos = start + rem
        n = np.minimum(n, max_trials - samples[unfinished])
        spent = int(samples.sum())
        while todo and spent + int(n.sum()) >= todo[0]:
            # Stopped at B: this batch's requests in sweep order, cut at exactly B.
            order = np.concatenate([np.arange(start, u), np.arange(start)])
            room = todo[0] - spent
            part = np.zeros_like(n)
            cs = np.cumsum(n[order])
            take = np.clip(room - (cs - n[order]), 0, n[order])
            part[order] = take
            s2, c2 = samples.copy(), corrects.copy()
            s2[unfinished] += part
            c2[unfinished] += snap_rng.binomial(part, p[unfinished])
            snaps.append({"budget": todo.pop(0), "samples": s2, "corrects": c2})
        hits = rng.binomial(n, p[unfinished])
        samples[unfinished] += n
        corrects[unfinished] += hits
    for b in todo:  # budgets above the full run: the full run
        snaps.append({"budget": b, "samples": samples.copy(), "corrects": corrects.copy()})
    return {"samples": samples, "corrects": corrects}, snaps


def run_oracle(p, target, max_trials, ph, rng, p_full: float, p_first: float = 1.0) -> dict:
    """Knows p: samples a query with p >= p_full exactly to its t-th correct (or max_trials),
    one with none after the phase and p_first <= p < p_full to its first correct only."""
    samples, corrects = ph[0].copy(), ph[1].copy()
    need = np.maximum(target - corrects, 0)
    room = max_trials - samples
    full = (need > 0) & (p > 0) & (p >= p_full)
    first = (need > 0) & (p > 0) & ~full & (corrects == 0) & (p >= p_first)
    trials = np.zeros(len(p), dtype=np.int64)
    got = np.zeros(len(p), dtype=np.int64)
    t = rng.negative_binomial(need[full], p[full]) + need[full]
    g = need[full].copy()
    capped = t > room[full]
    g[capped] = rng.binomial(room[full][capped], p[full][capped])
    trials[full], got[full] = np.minimum(t, room[full]), g
    t1 = rng.geometric(p[first])
    trials[first] = np.minimum(t1, room[first])
    got[first] = t1 <= room[first]
    return {"samples": samples + trials, "corrects": corrects + np.minimum(got, need)}


# --------------------------------------------------------------------------- metrics


def metrics(res: dict, target: np.ndarray, levels: np.ndarray) -> dict:
    """Raw samples; kept rows, share at target and coverage, overall and for Level 5."""
    c = res["corrects"]
    kept = np.minimum(c, target)
    l5 = levels == 5
    out = {"raw_samples": int(res["samples"].sum())}
    for tag, m in (("", slice(None)), ("l5_", l5)):
        out[tag + "kept_rows"] = int(kept[m].sum())
        out[tag + "share_at_target"] = float((c[m] >= target[m]).mean())
        out[tag + "coverage"] = float((kept[m] >= 1).mean())
    return out


def goals_met(m: dict, ref: dict, cov_tol=0.01, kept_tol=0.01, l5_tol=0.02) -> bool:
    """The paper-default goals against the reference's full run."""
    return (
        m["coverage"] >= ref["coverage"] - cov_tol
        and m["kept_rows"] >= (1 - kept_tol) * ref["kept_rows"]
        and m["l5_coverage"] >= ref["l5_coverage"] - l5_tol
    )


ORACLE_GRID = np.concatenate([[0.0], np.geomspace(1e-5, 0.3, 36)])


def oracle_min_ratio(p, target, max_trials, ph, rng, levels, ref: dict) -> tuple[float, float]:
    """Cheapest oracle meeting the goals: (ratio to reference, p_full).

    Over (p_full, p_first <= p_full) on a grid: the pass-rate-knowing policy is bang-bang
    (a known p has a constant marginal value), sampling fully above p_full and to the first
    correct response above p_first (for a query with none after the phase).
    """
    best = (float("nan"), float("nan"))
    for p_full in ORACLE_GRID:
        for p_first in ORACLE_GRID[p_full >= ORACLE_GRID]:
            res = run_oracle(p, target, max_trials, ph, np.random.default_rng(rng), p_full, p_first)
            m = metrics(res, target, levels)
            if not goals_met(m, ref):
                break  # a higher p_first only saves more coverage samples: it loses more
            ratio = m["raw_samples"] / ref["raw_samples"]
            if not ratio >= best[0]:
                best = (ratio, float(p_full))
    return best


def mean_se(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    se = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else 0.0
    return float(a.mean()), se


# --------------------------------------------------------------------------- one model


def bench_setup(model: str, setup: str, knobs: dict, n: int, seeds: int, frontier: bool = True) -> dict:
    """Frontier, default point and oracle of one model and setup over `seeds` seeds."""
    base = DarsConfig(**PAPER, **SETUPS[setup], **knobs)
    frontier_cfg = dataclasses.replace(base, min_yield=0.0)
    per_seed = []
    for seed in range(seeds):
        rng = np.random.default_rng([seed, 7])
        levels, p = scheduler_models.draw(scheduler_models.MODELS[model], n, rng)
        ph = phase(p, base.difficulty_samples, rng)
        st0 = start_state(levels, base, ph)
        target = st0["target"]
        ref_full, _ = run_reference(p, target, base.max_trials, ph, np.random.default_rng(seed))
        ref_total = int(ref_full["samples"].sum())
        budgets = [int(f * ref_total) for f in FRACTIONS]
        snaps: list = [None] * len(budgets)
        if frontier:
            _, snaps = run_reference(p, target, base.max_trials, ph, np.random.default_rng(seed), budgets)
        row: dict = {"ref_full": metrics(ref_full, target, levels), "frontier": []}
        phase_total = int(ph[0].sum())
        for f, b, snap in zip(FRACTIONS, budgets, snaps, strict=True):
            if not frontier:
                row["frontier"].append({"fraction": f, "phase_only": True})
                continue
            if b <= phase_total:  # both policies share the phase: nothing to compare
                row["frontier"].append({"fraction": f, "phase_only": True})
                continue
            cfg = dataclasses.replace(frontier_cfg, budget=b)
            ours = run_ours(p, st0, cfg, np.random.default_rng([seed, 1, b]))
            assert ours["samples"].sum() <= b and (ours["samples"] <= cfg.max_trials).all()
            row["frontier"].append(
                {
                    "fraction": f,
                    "ours": metrics(ours, target, levels),
                    "reference": metrics(snap, target, levels),
                }
            )
        t0 = time.perf_counter()
        d = run_ours(p, st0, base, np.random.default_rng([seed, 2]))
        row["default_wall_s"] = time.perf_counter() - t0
        row["default"] = metrics(d, target, levels)
        row["default_rounds"] = d["rounds"]
        row["default_stop_reasons"] = d["stop_reasons"]
        row["oracle"] = oracle_min_ratio(p, target, base.max_trials, ph, seed + 3, levels, row["ref_full"])
        per_seed.append(row)
    return summarise(model, setup, base, per_seed)


def summarise(model: str, setup: str, cfg: DarsConfig, rows: list[dict]) -> dict:
    keys = [f"{t}{m}" for t in ("", "l5_") for m in METRICS]
    frontier = []
    for i, f in enumerate(FRACTIONS):
        point: dict = {"fraction": f}
        if any(r["frontier"][i].get("phase_only") for r in rows):
            frontier.append({**point, "phase_only": True})
            continue
        better = []
        ok = True
        for key in keys:
            ours = [r["frontier"][i]["ours"][key] for r in rows]
            ref = [r["frontier"][i]["reference"][key] for r in rows]
            diff = mean_se([a - b for a, b in zip(ours, ref, strict=True)])
            point[key] = {"ours": mean_se(ours), "reference": mean_se(ref), "diff": diff}
            # Paired over seeds (same pass rates and phase): ours >= reference - 2 SE.
            ok &= diff[0] >= -2 * diff[1]
            better.append(diff[0] > 2 * diff[1] and diff[0] > 0)
        point["ours_raw"] = mean_se([r["frontier"][i]["ours"]["raw_samples"] for r in rows])
        point["never_worse"] = bool(ok)
        point["strictly_better_on"] = [k for k, b in zip(keys, better, strict=True) if b]
        frontier.append(point)
    ratio = mean_se([r["default"]["raw_samples"] / r["ref_full"]["raw_samples"] for r in rows])
    d = {
        "ratio": ratio,
        "coverage_diff": mean_se([r["default"]["coverage"] - r["ref_full"]["coverage"] for r in rows]),
        "l5_coverage_diff": mean_se(
            [r["default"]["l5_coverage"] - r["ref_full"]["l5_coverage"] for r in rows]
        ),
        "kept_rows_rel": mean_se([r["default"]["kept_rows"] / r["ref_full"]["kept_rows"] - 1 for r in rows]),
        "share_at_target_diff": mean_se(
            [r["default"]["share_at_target"] - r["ref_full"]["share_at_target"] for r in rows]
        ),
        "goals_met_all_seeds": all(goals_met(r["default"], r["ref_full"]) for r in rows),
        "rounds": float(np.mean([r["default_rounds"] for r in rows])),
        "wall_s": float(np.mean([r["default_wall_s"] for r in rows])),
        "stop_reasons": {
            k: float(np.mean([r["default_stop_reasons"].get(k, 0) for r in rows]))
            for k in rows[0]["default_stop_reasons"]
        },
    }
    return {
        "model": model,
        "held_out": model in scheduler_models.HELD_OUT,
        "setup": setup,
        "settings": {
            k: getattr(cfg, k)
            for k in (
                "k_u",
                "k_p",
                "max_trials",
                "min_yield",
                "first_value",
                "row_loss",
                "coverage_loss",
                "prior_a",
                "prior_b",
                "prior_zero",
                "difficulty_samples",
                "round_cap",
            )
        },
        "reference_full": {k: mean_se([r["ref_full"][k] for r in rows]) for k in ("raw_samples", *keys)},
        "frontier": frontier,
        "default": d,
        "oracle_ratio": mean_se([r["oracle"][0] for r in rows]),
    }


def bench_pool(model: str, knobs: dict, n: int, seeds: int) -> dict:
    """One pool serving both releases (max_trials 8192) against two separate reference runs."""
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng([seed, 7])
        levels, p = scheduler_models.draw(scheduler_models.MODELS[model], n, rng)
        cfg = DarsConfig(**PAPER, **POOL, **knobs)
        ph = phase(p, cfg.difficulty_samples, rng)
        st0 = start_state(levels, cfg, ph)
        ours = run_ours(p, st0, cfg, np.random.default_rng([seed, 2]))
        row = {"ours_raw": int(ours["samples"].sum()), "ref_raw": 0}
        for name, mt in (("uniform", 2048), ("prop2diff", 8192)):
            t = st0[f"target_{name}"]
            ref, _ = run_reference(p, t, mt, ph, np.random.default_rng([seed, 5]))
            row["ref_raw"] += int(ref["samples"].sum())
            row[name] = {"ours": metrics(ours, t, levels), "ref": metrics(ref, t, levels)}
        rows.append(row)
    out = {"model": model, "ratio": mean_se([r["ours_raw"] / r["ref_raw"] for r in rows])}
    for name in ("uniform", "prop2diff"):
        out[name] = {
            "coverage_diff": mean_se(
                [r[name]["ours"]["coverage"] - r[name]["ref"]["coverage"] for r in rows]
            ),
            "l5_coverage_diff": mean_se(
                [r[name]["ours"]["l5_coverage"] - r[name]["ref"]["l5_coverage"] for r in rows]
            ),
            "kept_rows_rel": mean_se(
                [r[name]["ours"]["kept_rows"] / r[name]["ref"]["kept_rows"] - 1 for r in rows]
            ),
            "goals_met_all_seeds": all(goals_met(r[name]["ours"], r[name]["ref"]) for r in rows),
        }
    return out


# --------------------------------------------------------------------------- report


def table(results: list[dict], pools: list[dict], knobs: dict) -> str:
    lines = [
        "# Scheduler benchmark (`perf/bench_scheduler.py`)",
        "",
        f"Default yield-rule settings: {knobs}; paper-recipe DARS settings otherwise "
        f"({PAPER}). Mean over seeds (+- standard error). `ours` runs with `budget` B and "
        "`min_yield 0` (the budget binds); the reference is stopped after exactly B raw samples.",
        "",
    ]
    for held in (False, True):
        lines.append("## " + ("Held-out models" if held else "Tuning family"))
        lines.append("")
        for r in (x for x in results if x["held_out"] == held):
            ref = r["reference_full"]
            lines.append(
                f"### {r['model']} / {r['setup']} (reference full run "
                f"{ref['raw_samples'][0] / 1e6:.2f}M raw samples, coverage "
                f"{ref['coverage'][0]:.4f}, L5 coverage {ref['l5_coverage'][0]:.4f})"
            )
            lines.append("")
            lines.append(
                "| B / ref | ours raw | kept rows ours / ref | at target ours / ref | "
                "coverage ours / ref | L5 kept ours / ref | L5 at target ours / ref | "
                "L5 coverage ours / ref | never worse | strictly better on |"
            )
            lines.append("|---|---|---|---|---|---|---|---|---|---|")
            for pt in r["frontier"]:
                if pt.get("phase_only"):
                    lines.append(
                        f"| {pt['fraction']:.2f} | below the difficulty phase: both "
                        "policies are the phase alone | | | | | | | | |"
                    )
                    continue
                cells = [f"{pt['fraction']:.2f}", f"{pt['ours_raw'][0] / 1e6:.2f}M"]
                for key in (
                    "kept_rows",
                    "share_at_target",
                    "coverage",
                    "l5_kept_rows",
                    "l5_share_at_target",
                    "l5_coverage",
                ):
                    o, rf = pt[key]["ours"][0], pt[key]["reference"][0]
                    if "kept" in key:
                        cells.append(f"{o:,.0f} / {rf:,.0f}")
                    else:
                        cells.append(f"{o:.4f} / {rf:.4f}")
                cells.append("yes" if pt["never_worse"] else "**no**")
                cells.append(", ".join(pt["strictly_better_on"]) or "-")
                lines.append("| " + " | ".join(cells) + " |")
            d = r["default"]
            lines.append("")
            lines.append(
                f"Default (no budget): {d['ratio'][0]:.3f}x the reference's raw samples "
                f"(oracle {r['oracle_ratio'][0]:.3f}x), coverage {d['coverage_diff'][0]:+.4f}, "
                f"L5 coverage {d['l5_coverage_diff'][0]:+.4f}, kept rows "
                f"{d['kept_rows_rel'][0]:+.2%}, share at target "
                f"{d['share_at_target_diff'][0]:+.4f}; goals met on every seed: "
                f"{'yes' if d['goals_met_all_seeds'] else '**no**'}; {d['rounds']:.1f} rounds; "
                f"stop reasons {d['stop_reasons']}"
            )
            lines.append("")
    lines.append("## One pool for both releases (max_trials 8192) vs two reference runs")
    lines.append("")
    lines.append(
        "| model | pool / (uniform 2048 + prop2diff 8192) | uniform cov / L5 cov / kept | "
        "prop2diff cov / L5 cov / kept | goals met |"
    )
    lines.append("|---|---|---|---|---|")
    for pr in pools:
        cells = [pr["model"], f"{pr['ratio'][0]:.3f}"]
        for name in ("uniform", "prop2diff"):
            x = pr[name]
            cells.append(
                f"{x['coverage_diff'][0]:+.4f} / {x['l5_coverage_diff'][0]:+.4f} / "
                f"{x['kept_rows_rel'][0]:+.2%}"
            )
        ok = pr["uniform"]["goals_met_all_seeds"] and pr["prop2diff"]["goals_met_all_seeds"]
        cells.append("yes" if ok else "**no**")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], setup: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in results if r["setup"] == setup]
    fig = Figure(figsize=(13, 2.6 * len(rows)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), 3, squeeze=False)
    for ax_row, r in zip(axes, rows, strict=True):
        ref_total = r["reference_full"]["raw_samples"][0]
        for ax, key, label in zip(
            ax_row,
            ("coverage", "l5_coverage", "kept_rows"),
            ("coverage", "L5 coverage", "kept rows"),
            strict=True,
        ):
            pts = [pt for pt in r["frontier"] if not pt.get("phase_only")]
            xs = [pt["fraction"] for pt in pts]
            xo = [pt["ours_raw"][0] / ref_total for pt in pts]
            ax.plot(xs, [pt[key]["reference"][0] for pt in pts], "o-", label="reference")
            ax.plot(xo, [pt[key]["ours"][0] for pt in pts], "s-", label="ours (budget)")
            d = r["default"]
            full = r["reference_full"][key][0]
            y = full * (1 + d["kept_rows_rel"][0]) if key == "kept_rows" else full + d[f"{key}_diff"][0]
            ax.plot([d["ratio"][0]], [y], "k*", ms=10, label="ours default")
            ax.axvline(r["oracle_ratio"][0], color="grey", ls=":", label="oracle (goals)")
            ax.set_title(f"{r['model']}{' (held out)' if r['held_out'] else ''}: {label}", fontsize=9)
            ax.set_xlabel("raw samples / reference full run", fontsize=8)
            ax.tick_params(labelsize=7)
        ax_row[0].legend(fontsize=7)
    fig.suptitle(f"DARS frontier, {setup}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, metadata={"Software": None})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--queries", type=int, default=15_000)
    ap.add_argument("--models", default=",".join(scheduler_models.MODELS))
    ap.add_argument("--setups", default="uniform,prop2diff")
    ap.add_argument("--min-yield", type=float, default=None)
    ap.add_argument("--first-value", type=float, default=None)
    ap.add_argument("--prior-zero", type=float, default=None)
    ap.add_argument("--row-loss", type=float, default=None)
    ap.add_argument("--coverage-loss", type=float, default=None)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--json", default=None, help="write the raw results here, no report")
    ap.add_argument("--report-from", default=None, help="comma-separated --json files")
    ap.add_argument("--defaults-only", action="store_true", help="skip the frontier (it runs min_yield 0)")
    ap.add_argument(
        "--defaults-from",
        default=None,
        help="with --report-from: --json files of a --defaults-only run whose default points, "
        "oracle and pool figures replace those of the frontier run",
    )
    args = ap.parse_args()
    if args.report_from:
        parts = [json.loads(Path(f).read_text()) for f in args.report_from.split(",")]
        if args.defaults_from:
            newer = [json.loads(Path(f).read_text()) for f in args.defaults_from.split(",")]
            by_key = {(r["model"], r["setup"]): r for x in newer for r in x["results"]}
            for x in parts:
                x["knobs"] = newer[0]["knobs"]
                x["pools"] = [
                    p for y in newer for p in y["pools"] if p["model"] in {r["model"] for r in x["results"]}
                ]
                for r in x["results"]:
                    d = by_key[(r["model"], r["setup"])]
                    r["default"], r["oracle_ratio"] = d["default"], d["oracle_ratio"]
                    r["settings"] = d["settings"]
        payload = {
            "knobs": parts[0]["knobs"],
            "paper": PAPER,
            "queries": parts[0].get("queries"),
            "seeds": parts[0].get("seeds"),
            "results": [r for x in parts for r in x["results"]],
            "pools": [r for x in parts for r in x["pools"]],
        }
        write_report(payload, sorted({r["setup"] for r in payload["results"]}))
        return
    knobs = {}
    if args.min_yield is not None:
        knobs["min_yield"] = args.min_yield
    if args.first_value is not None:
        knobs["first_value"] = args.first_value
    if args.prior_zero is not None:
        knobs["prior_zero"] = args.prior_zero
    if args.row_loss is not None:
        knobs["row_loss"] = args.row_loss
    if args.coverage_loss is not None:
        knobs["coverage_loss"] = args.coverage_loss
    base = DarsConfig(**knobs)
    knobs = {
        k: getattr(base, k) for k in ("min_yield", "first_value", "row_loss", "coverage_loss", "prior_zero")
    }
    models = args.models.split(",")
    results, pools = [], []
    t0 = time.perf_counter()
    for model in models:
        for setup in args.setups.split(","):
            r = bench_setup(model, setup, knobs, args.queries, args.seeds, frontier=not args.defaults_only)
            results.append(r)
            d = r["default"]
            worse = [
                pt["fraction"] for pt in r["frontier"] if not pt.get("phase_only") and not pt["never_worse"]
            ]
            print(
                f"{model:>17} {setup:>9}: default {d['ratio'][0]:.3f}x (oracle "
                f"{r['oracle_ratio'][0]:.3f}x) cov {d['coverage_diff'][0]:+.4f} L5 "
                f"{d['l5_coverage_diff'][0]:+.4f} kept {d['kept_rows_rel'][0]:+.2%} "
                f"goals {'ok' if d['goals_met_all_seeds'] else 'NO'}; frontier worse at "
                f"{worse or 'none'} [{time.perf_counter() - t0:.0f}s]",
                flush=True,
            )
        pr = bench_pool(model, knobs, args.queries, args.seeds)
        pools.append(pr)
        print(f"{model:>17}      pool: {pr['ratio'][0]:.3f}x of two reference runs", flush=True)
    payload = {
        "knobs": knobs,
        "paper": PAPER,
        "queries": args.queries,
        "seeds": args.seeds,
        "results": results,
        "pools": pools,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
        return
    if args.no_write:
        return
    write_report(payload, args.setups.split(","))


def write_report(payload: dict, setups: list[str]) -> None:
    """perf/results/bench_scheduler.{json,md} and one PNG per setup."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_scheduler.json").write_text(json.dumps(payload, indent=1) + "\n")
    text = table(payload["results"], payload["pools"], payload["knobs"])
    text = text.replace(
        "Mean over seeds",
        f"{payload.get('queries')} queries per pool, {payload.get('seeds')} seeds. Mean over seeds",
        1,
    )
    (RESULTS / "bench_scheduler.md").write_text(text)
    for setup in setups:
        plot(payload["results"], setup, RESULTS / f"bench_scheduler_{setup}.png")


if __name__ == "__main__":
    main()
