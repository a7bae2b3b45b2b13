"""Statistics: per-level figures recomputed by hand, the DESIGN.md schema, the printed table."""

from __future__ import annotations

import json

import numpy as np

from dart_hf import dars, stats
from dart_hf.config import DarsConfig


def _stats() -> dict:
    cfg = DarsConfig(strategies=("uniform", "prop2diff", "vrt"), k_u=2, k_p=4, vrt_n=4)
    st = dars.new_state(["a", "b", "c", "d"], [0, 0, 5, None], ["gsm8k", "gsm8k", "math", "x"])
    st["samples"][:] = 4
    st["corrects"][:] = [4, 1, 0, 2]
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, None)
    kept = {
        "uniform": np.array([2, 1, 0, 2]),
        "prop2diff": np.array([1, 1, 0, 2]),
        "vrt": np.array([4, 1, 0, 2]),
    }
    return stats.compute_stats(
        state=st,
        config=cfg,
        kept=kept,
        rows={k: int(v.sum()) for k, v in kept.items()},
        filters={"duplicate": 3, "repetition": 1, "incorrect": 9},
        excluded=np.array([False, False, False, True]),
        recipe={"k_u": 2},
        provenance={"engine": "scripted", "engine_version": "1", "model": "m", "model_hash": "h"},
        sampling={"temperature": 0.7},
        grader={"name": "math-verify"},
        tokens=100,
        correct_samples=7,
        wall_time_s=1.5,
        rounds=1,
    )


def test_per_level_figures() -> None:
    s = _stats()
    uni = s["strategies"]["uniform"]
    assert uni["params"]["k_u"] == 2
    assert uni["rows"] == 5
    assert uni["decontaminated_queries"] == 1
    assert uni["filters"] == {
        "duplicate": 3, "multiple_boxed": 0, "repetition": 1, "non_ascii_answer": 0
    }  # fmt: skip
    by_level = {row["level"]: row for row in uni["per_level"]}
    assert set(by_level) == {0, 5}  # query d (no level) is decontaminated
    assert by_level[0] == {
        "level": 0, "queries": 2, "mean_responses": 1.5, "coverage": 1.0,
        "share_at_target": 0.5, "no_correct": 0, "below_target": 1, "budget_short": 0,
    }  # fmt: skip
    assert by_level[5]["coverage"] == 0.0 and by_level[5]["no_correct"] == 1
    hard = {row["level"]: row for row in s["strategies"]["prop2diff"]["per_level"]}
    # targets: fail rates 0, 0.75 -> t = 1, 3; kept 1, 1 -> one of two at target
    assert hard[0]["share_at_target"] == 0.5
    assert s["strategies"]["vrt"]["per_level"][0]["share_at_target"] == 1.0


def test_schema_and_table() -> None:
    s = _stats()
    for key in ("recipe", "model", "engine", "sampling", "grader", "totals", "stop_reasons",
                "fail_rate", "strategies"):  # fmt: skip
        assert key in s
    assert s["totals"]["raw_samples"] == 16 and s["totals"]["correct_samples"] == 7
    assert sum(s["stop_reasons"].values()) == 2  # b and c are still open
    assert sum(s["fail_rate"]["histogram"]["counts"]) == 4
    json.dumps(s)
    table = stats.format_table(s)
    assert "uniform" in table and "prop2diff" in table and "stop reasons" in table


def test_stop_reasons_per_level_and_yield_rule() -> None:
    s = _stats()
    per = {row["level"]: row for row in s["stop_reasons_per_level"]}
    assert set(per) == {0, 5, None}
    assert per[0]["reached"] == 1 and sum(s["stop_reasons"].values()) == sum(
        sum(v for k, v in row.items() if k != "level") for row in per.values()
    )
    rule = s["yield_rule"]
    assert rule["min_yield"] == DarsConfig().min_yield and rule["horizon"] == 1000
    assert rule["min_first_yield"] == rule["min_yield"] / rule["first_value"]
    assert {row["level"] for row in rule["prior_per_level"]} == {0, 5, None}
    assert all(row["no_correct_stop_samples"] >= 1 for row in rule["prior_per_level"])


def test_table_shows_paper_figures_and_what_was_left_short() -> None:
    table = stats.format_table(_stats())
    header, *rows = table.splitlines()
    assert "paper" in header and "none" in header and "below t" in header
    uniform_l0 = next(r for r in rows if r.startswith("uniform") and r.split()[1] == "0")
    assert "39.93" in uniform_l0
    hard_l5 = next(r for r in rows if r.startswith("prop2diff") and r.split()[1] == "5")
    assert "107.06" in hard_l5
