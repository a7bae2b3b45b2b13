"""Build statistics from the data: per level, per strategy; saved as `stats.json` for the cards.

The schema is the one in docs/DESIGN.md ("Statistics"). Levels: GSM8K = 0, MATH 1-5, null for
sources without levels.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from dart_hf import dars
from dart_hf.assemble import FILTERS
from dart_hf.config import DarsConfig
from dart_hf.dars import State
from dart_hf.strategies import STRATEGIES

#: Rows dropped per reason, as the cards count them: dedup and every quality filter of
#: `assemble.FILTERS` (a new filter is counted without a change here).
FILTER_KEYS = ("duplicate", *FILTERS)
HISTOGRAM_BINS = 10


def strategy_params(name: str, config: DarsConfig) -> dict[str, Any]:
    """The parameters that define a strategy's release (`Strategy.card_params`)."""
    return STRATEGIES[name].card_params(config)


def per_level(
    state: State, kept: np.ndarray, at_target: np.ndarray, excluded: np.ndarray
) -> list[dict[str, Any]]:
    """Per level: queries, mean kept responses, coverage, share at target, what was left short.

    `no_correct`: queries with no kept response; `below_target`: queries with some, but
    fewer than the target; `budget_short`: queries the budget stopped below their target.
    Decontaminated queries (`excluded`) are left out of every figure.
    """
    levels = state["level"]
    budget = state["stop_reason"] == "budget"
    out = []
    for lv in sorted(set(levels[~excluded].tolist())):
        m = (levels == lv) & ~excluded
        n = int(m.sum())
        out.append(
            {
                "level": None if lv < 0 else int(lv),
                "queries": n,
                "mean_responses": round(float(kept[m].mean()), 4) if n else 0.0,
                "coverage": round(float((kept[m] >= 1).mean()), 4) if n else 0.0,
                "share_at_target": round(float(at_target[m].mean()), 4) if n else 0.0,
                "no_correct": int((m & (kept == 0)).sum()),
                "below_target": int((m & (kept > 0) & ~at_target).sum()),
                "budget_short": int((m & budget & ~at_target).sum()),
            }
        )
    return out


def stops_per_level(state: State) -> list[dict[str, Any]]:
    """Queries per stop reason and level (null: the query has no level)."""
    levels = state["level"]
    out = []
    for lv in sorted(set(levels.tolist())):
        m = levels == lv
        counts = dars.stop_counts(state["stop_reason"][m])
        out.append({"level": None if lv < 0 else int(lv), **counts})
    return out


def yield_rule(state: State, config: DarsConfig) -> dict[str, Any]:
    """The yield rule's settings and the prior it ended with, per level (for the cards)."""
    zero, a, b = dars.priors(state, config)
    levels = state["level"]
    prior = []
    stops = dars.first_stops(state, config, config.min_yield)  # under the fitted grid prior
    for lv in sorted(set(levels.tolist())):
        i = int(np.flatnonzero(levels == lv)[0])
        stop = stops[i]
        prior.append(
            {
                "level": None if lv < 0 else int(lv),
                "zero": round(float(zero[i]), 4),
                "a": round(float(a[i]), 4),
                "b": round(float(b[i]), 4),
                "no_correct_stop_samples": int(stop),
            }
        )
    largest = max(1, int(state["target"].max())) if len(state["target"]) else 1
    return {
        "min_yield": config.min_yield,
        "first_value": config.first_value,
        # a first correct response counts first_value x the query's target t
        "largest_target": largest,
        "min_first_yield": config.min_yield / (config.first_value * largest),
        "horizon": dars.HORIZON,
        "prior_fit": config.prior_fit,
        "stated_prior": {"zero": config.prior_zero, "a": config.prior_a, "b": config.prior_b},
        "prior_per_level": prior,
        "no_correct_stop": config.hopeless is not False,
    }


def compute_stats(
    *,
    state: State,
    config: DarsConfig,
    kept: dict[str, np.ndarray],
    rows: dict[str, int],
    filters: dict[str, int],
    excluded: np.ndarray,
    recipe: dict[str, Any],
    provenance: dict[str, Any],
    sampling: dict[str, Any],
    grader: dict[str, Any],
    tokens: int,
    correct_samples: int,
    wall_time_s: float,
    rounds: int,
    gold_status: list[str] | None = None,
    gold_settings: dict[str, Any] | None = None,
    gold_majority: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble `stats.json` (schema in docs/DESIGN.md).

    Args:
        state: Final per-query state.
        config: DARS settings of the build.
        kept: Released responses per query (state order) for every strategy.
        rows: Rows of every release.
        filters: Rows dropped per reason (`duplicate` and the quality filters).
        excluded: Decontaminated queries (state order).
        recipe: Every setting of the build after overrides.
        provenance: Engine provenance (`engine`, `engine_version`, `model`, `model_hash`).
        sampling: Sampling settings.
        grader: Grader name and versions.
        tokens: Generated tokens over all raw samples.
        correct_samples: Correct raw samples.
        wall_time_s: Wall time of the build (summed over resumed runs).
        rounds: Rounds run.
        gold_status: Gold audit status per query (state order), if audited.
        gold_settings: The audit's thresholds (`gold_min_votes`, `gold_min_share`,
            `exclude_disputed`).
        gold_majority: `gold: majority` builds: `gold_majority.majority_stats` (written as
            `gold_majority`); the queries it left out (`no_majority`) are left out of the
            per-level figures too.
    """
    fr = state["fail_rate"]
    counts, edges = np.histogram(fr[~np.isnan(fr)], bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    strategies: dict[str, Any] = {}
    # queries left out for want of a gold (`gold: majority`) are in no figure
    left_out = np.asarray(state["stop_reason"], dtype=object) == "no_majority"
    unfigured = np.asarray(excluded, dtype=bool) | left_out
    for name in config.strategies:
        k = kept[name]
        at_target = STRATEGIES[name].at_target(
            k, state[f"target_{name}"], state["samples"], config.max_trials
        )
        strategies[name] = {
            "params": strategy_params(name, config),
            "rows": int(rows[name]),
            "filters": {key: int(filters.get(key, 0)) for key in FILTER_KEYS},
            "decontaminated_queries": int(excluded.sum()),
            "per_level": per_level(state, k, at_target, unfigured),
        }
    out = {
        "recipe": recipe,
        "model": {
            "model": provenance.get("model"),
            "model_hash": provenance.get("model_hash"),
            "revision": provenance.get("revision"),
        },
        "engine": {
            "engine": provenance.get("engine"),
            "engine_version": provenance.get("engine_version"),
        },
        "sampling": sampling,
        "grader": grader,
        "totals": {
            "queries": len(state["id"]),
            "raw_samples": int(state["samples"].sum()),
            "correct_samples": int(correct_samples),
            "tokens": int(tokens),
            "wall_time_s": round(float(wall_time_s), 2),
            "rounds": int(rounds),
        },
        "stop_reasons": dars.stop_counts(state["stop_reason"]),
        "stop_reasons_per_level": stops_per_level(state),
        "yield_rule": yield_rule(state, config),
        "fail_rate": {
            "phase_samples": config.difficulty_samples if not config.fail_rate_from else None,
            "from": config.fail_rate_from,
            "histogram": {"edges": edges.round(4).tolist(), "counts": counts.tolist()},
        },
        "strategies": strategies,
        "dars": asdict(config) | {"strategies": list(config.strategies)},
        "gold_audit": gold_audit_stats(state, gold_status, gold_settings),
    }
    if gold_majority is not None:
        out["gold_majority"] = gold_majority
    return out


def gold_audit_stats(
    state: State, gold_status: list[str] | None, settings: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Gold statuses overall and per level (level label as in the cards), or None."""
    if gold_status is None:
        return None
    from dart_hf.gold_audit import GOLD_STATUSES, counts_by_level

    audited = [(g, int(lv)) for g, lv in zip(gold_status, state["level"], strict=True) if g]
    gold_status = [g for g, _ in audited]  # majority golds (`gold: majority`) are not audited
    by_level = counts_by_level(gold_status, [lv for _, lv in audited])
    return {
        **(settings or {}),
        "counts": {g: gold_status.count(g) for g in GOLD_STATUSES},
        "per_level": [
            {"level": key, "label": _gold_level_label(key), **row} for key, row in by_level.items()
        ],
    }


def _gold_level_label(key: str) -> str:
    if key == "none":
        return "unknown"
    return "L0 (GSM8K)" if key == "0" else f"L{key}"


def save_stats(stats: dict[str, Any], path: str | Path) -> None:
    """Write `stats.json` (atomically)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(stats, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def format_table(stats: dict[str, Any]) -> str:
    """A plain-text table of the statistics, for the CLI to print.

    Per strategy and level: mean responses per query beside the paper's released set's,
    coverage, share at target, and the queries left with none / below target with some.
    """
    lines = [
        f"{'strategy':<10} {'level':>5} {'queries':>7} {'resp/q':>7} {'paper':>7} "
        f"{'coverage':>8} {'at target':>9} {'none':>6} {'below t':>7}"
    ]
    for name, s in stats["strategies"].items():
        paper = STRATEGIES[name].paper_mean_responses if name in STRATEGIES else None
        for row in s["per_level"]:
            lv = row["level"]
            ref = f"{paper[lv]:.2f}" if paper and lv is not None and 0 <= lv <= 5 else "-"
            lines.append(
                f"{name:<10} {'-' if lv is None else str(lv):>5} {row['queries']:>7} "
                f"{row['mean_responses']:>7.2f} {ref:>7} {row['coverage']:>8.1%} "
                f"{row['share_at_target']:>9.1%} {row.get('no_correct', 0):>6} "
                f"{row.get('below_target', 0):>7}"
            )
        lines.append(f"{name:<10} {'rows':>5} {s['rows']:>7}")
    t = stats["totals"]
    lines.append(
        f"queries {t['queries']}, raw samples {t['raw_samples']} "
        f"({t['correct_samples']} correct), tokens {t['tokens']}, rounds {t['rounds']}, "
        f"wall {t['wall_time_s']:.0f} s"
    )
    lines.append("stop reasons: " + ", ".join(f"{k} {v}" for k, v in stats["stop_reasons"].items()))
    if stats.get("gold_majority"):
        c = stats["gold_majority"]["counts"]
        lines.append(
            f"golds: {c['majority']} majority votes (model votes, not verified), "
            f"{c['answer']} from the pool, {c['no_majority']} queries left out (no clear majority)"
        )
    first = next(iter(stats["strategies"].values()), None)
    if first:
        lines.append(
            "filters: "
            + ", ".join(f"{k} {v}" for k, v in first["filters"].items())
            + f"; decontaminated queries {first['decontaminated_queries']}"
        )
    return "\n".join(lines)
