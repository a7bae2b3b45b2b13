"""Statistics of a tiny pool, every figure worked out by hand.

The pool: four queries with 4 raw samples each (the difficulty phase), correct 4, 1, 0, 2:
    a  L0 (gsm8k)  4/4  fail rate 0     targets: uniform 2, prop2diff max(1, ceil(4*0))    = 1
    b  L0 (gsm8k)  1/4  fail rate 0.75           uniform 2, prop2diff ceil(4*0.75)         = 3
    c  L5 (math)   0/4  fail rate 1              uniform 2, prop2diff 4
    d  no level    2/4  fail rate 0.5            decontaminated (left out of every release)
a and d have their targets (reached); b and c stay open.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dart_hf import dars
from dart_hf.build import stats
from dart_hf.config import DarsConfig
from dart_hf.errors import DartError

DATA = Path(__file__).parents[1] / "data"


def _typed(gold_status: list[str] | None = None, gold: stats.GoldSettings | None = None) -> stats.BuildStats:
    cfg = DarsConfig(strategies=("uniform", "prop2diff", "vrt"), k_u=2, k_p=4, vrt_n=4, difficulty_samples=4)
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
    figures = stats.BuildFigures(
        kept=kept,
        rows={k: int(v.sum()) for k, v in kept.items()},
        filters={"duplicate": 3, "repetition": 1, "incorrect": 9},
        excluded=np.array([False, False, False, True]),
        correct_samples=7,
        benchmarks=["math500"],
        gold_status=gold_status,
    )
    run = stats.RunRecord(
        recipe={"k_u": 2},
        sampling={"temperature": 0.7},
        grader={"name": "math-verify"},
        model=stats.ModelInfo("m", "h"),
        engine=stats.EngineInfo("scripted", "1"),
        tokens=100,
        wall_time_s=1.5,
        rounds=1,
        gold=gold,
    )
    return stats.compute_stats(st, cfg, figures, run)


def _stats(**extra: Any) -> dict:
    """`stats.json` of the tiny pool, as written."""
    return _typed(**extra).to_dict()


def test_per_level_figures() -> None:
    s = _stats()
    uni = s["strategies"]["uniform"]
    assert uni["params"]["k_u"] == 2
    assert uni["rows"] == 5
    assert uni["decontaminated_queries"] == 1
    assert uni["filters"] == {"duplicate": 3, "multiple_boxed": 0, "repetition": 1, "non_ascii_answer": 0}
    by_level = {row["level"]: row for row in uni["per_level"]}
    assert set(by_level) == {0, 5}  # query d (no level) is decontaminated
    assert by_level[0] == {
        "level": 0,
        "queries": 2,
        "mean_responses": 1.5,
        "coverage": 1.0,
        "share_at_target": 0.5,
        "no_correct": 0,
        "below_target": 1,
        "budget_short": 0,
    }
    assert by_level[5]["coverage"] == 0.0 and by_level[5]["no_correct"] == 1
    hard = {row["level"]: row for row in s["strategies"]["prop2diff"]["per_level"]}
    # targets: fail rates 0, 0.75 -> t = 1, 3; kept 1, 1 -> one of two at target
    assert hard[0]["share_at_target"] == 0.5
    assert s["strategies"]["vrt"]["per_level"][0]["share_at_target"] == 1.0


def test_per_level_figures_of_every_strategy() -> None:
    s = _stats()
    none_l5 = {
        "level": 5,
        "queries": 1,
        "mean_responses": 0.0,
        "coverage": 0.0,
        "no_correct": 1,
        "below_target": 0,
        "budget_short": 0,
    }
    hard = s["strategies"]["prop2diff"]
    assert hard["params"] == {"k_p": 4, "normalize_fail_rate": False, "max_trials": 64, "budget": None}
    assert hard["rows"] == 4  # kept 1 + 1 + 0 + 2 (d is counted by the caller's rows)
    assert hard["per_level"] == [
        {
            "level": 0,
            "queries": 2,
            "mean_responses": 1.0,
            "coverage": 1.0,
            "share_at_target": 0.5,
            "no_correct": 0,
            "below_target": 1,
            "budget_short": 0,
        },
        {**none_l5, "share_at_target": 0.0},
    ]
    # VRT keeps every correct among the first vrt_n = 4 samples: a 4, b 1, c 0, all at target
    vrt = s["strategies"]["vrt"]
    assert vrt["params"] == {"vrt_n": 4, "max_trials": 64, "budget": None}
    assert vrt["rows"] == 7
    assert vrt["per_level"] == [
        {
            "level": 0,
            "queries": 2,
            "mean_responses": 2.5,
            "coverage": 1.0,
            "share_at_target": 1.0,
            "no_correct": 0,
            "below_target": 0,
            "budget_short": 0,
        },
        {**none_l5, "share_at_target": 1.0},
    ]
    assert s["strategies"]["uniform"]["per_level"][1] == {**none_l5, "share_at_target": 0.0}
    # the correct-only count ("incorrect") is not a quality filter: not in the strategies' table
    assert all("incorrect" not in st["filters"] for st in s["strategies"].values())


def test_totals_stop_reasons_and_fail_rates() -> None:
    s = _stats()
    assert s["totals"] == {
        "queries": 4,
        "raw_samples": 16,
        "correct_samples": 7,
        "tokens": 100,
        "wall_time_s": 1.5,
        "rounds": 1,
        "failed_requests": 0,
        "truncated_samples": 0,
    }
    assert s["model"] == {"model": "m", "model_hash": "h", "revision": None}
    assert s["engine"] == {"engine": "scripted", "engine_version": "1"}
    assert (s["recipe"], s["sampling"], s["grader"]) == (
        {"k_u": 2},
        {"temperature": 0.7},
        {"name": "math-verify"},
    )
    # a (4 >= 2 correct) and d (2 >= 2) reached; b and c are still open
    zero = {"max_trials": 0, "no_correct": 0, "low_yield": 0, "budget": 0}
    assert s["stop_reasons"] == {"reached": 2, **zero}
    per = {row["level"]: row for row in s["stop_reasons_per_level"]}
    assert per == {
        0: {"level": 0, "reached": 1, **zero},  # a
        5: {"level": 5, "reached": 0, **zero},  # c open
        None: {"level": None, "reached": 1, **zero},  # d
    }
    # fail rates 0, 0.75, 1, 0.5 in tenths: bins [0, .1), [.5, .6), [.7, .8), [.9, 1]
    fr = s["fail_rate"]
    assert fr["phase_samples"] == 4 and fr["from"] is None
    assert fr["histogram"]["edges"] == pytest.approx([i / 10 for i in range(11)])
    assert fr["histogram"]["counts"] == [1, 0, 0, 0, 0, 1, 0, 1, 0, 1]
    json.dumps(s)


def test_gold_audit_counts_per_level() -> None:
    assert _stats()["gold_audit"] is None  # not audited
    audit = _stats(
        gold_status=["ok", "ok", "disputed", "unparseable"],
        gold=stats.GoldSettings(gold_min_votes=3, gold_min_share=0.5, exclude_disputed=False),
    )["gold_audit"]
    assert audit == {
        "gold_min_votes": 3,
        "gold_min_share": 0.5,
        "exclude_disputed": False,
        "counts": {"ok": 2, "unparseable": 1, "disputed": 1},
        "per_level": [
            {"level": "0", "label": "L0 (GSM8K)", "ok": 2, "unparseable": 0, "disputed": 0},
            {"level": "5", "label": "L5", "ok": 0, "unparseable": 0, "disputed": 1},
            {"level": "none", "label": "unknown", "ok": 0, "unparseable": 1, "disputed": 0},
        ],
    }


def test_yield_rule_as_configured() -> None:
    rule = _stats()["yield_rule"]
    assert (rule["min_yield"], rule["first_value"], rule["horizon"]) == (None, None, 1000)
    assert (rule["row_loss"], rule["coverage_loss"]) == (0.005, 0.004)
    assert 0 < rule["price_min"] <= rule["price_median"] <= rule["price_max"]
    assert rule["stated_prior"] == {"zero": 0.1, "a": 0.5, "b": 0.5}
    for row in rule["prior_per_level"]:
        assert row["no_correct"] >= 0 and (row["no_correct"] > 0) == (row["no_correct_samples"] > 0)
    assert [row["level"] for row in rule["prior_per_level"]] == [None, 0, 5]


def test_printed_table() -> None:
    lines = stats.format_table(_typed()).splitlines()
    rows = {
        tuple(line.split()[:2]): line.split()[2:]
        for line in lines[1:]
        if line.split()[0] in ("uniform", "prop2diff", "vrt")
    }
    # queries, resp/q, paper, coverage, at target, none, below t
    assert rows[("uniform", "0")] == ["2", "1.50", "39.93", "100.0%", "50.0%", "0", "1"]
    assert rows[("prop2diff", "5")] == ["1", "0.00", "107.06", "0.0%", "0.0%", "1", "0"]
    assert rows[("vrt", "0")] == ["2", "2.50", "-", "100.0%", "100.0%", "0", "0"]
    assert rows[("vrt", "rows")] == ["7"]
    assert lines[-3] == "queries 4, raw samples 16 (7 correct), tokens 100, rounds 1, wall 2 s"
    assert lines[-2] == "stop reasons: reached 2, max_trials 0, no_correct 0, low_yield 0, budget 0"
    assert lines[-1] == (
        "filters: duplicate 3, multiple_boxed 0, repetition 1, non_ascii_answer 0; decontaminated queries 1"
    )


def test_table_shows_paper_figures_and_what_was_left_short() -> None:
    table = stats.format_table(_typed())
    header, *rows = table.splitlines()
    assert "paper" in header and "none" in header and "below t" in header
    uniform_l0 = next(r for r in rows if r.startswith("uniform") and r.split()[1] == "0")
    assert "39.93" in uniform_l0
    hard_l5 = next(r for r in rows if r.startswith("prop2diff") and r.split()[1] == "5")
    assert "107.06" in hard_l5


def _majority() -> stats.GoldMajority:
    from dart_hf.build import majority as gold_majority

    table = {"id": ["a", "b", "c"], "gold_source": ["majority", None, "majority"]}
    settings = {
        "gold": "majority",
        "gold_min_votes": 4,
        "gold_min_share": 0.5,
        "vote_samples": 4,
        "fail_rate_round": 1,
    }
    return stats.GoldMajority.from_dict(
        gold_majority.majority_stats(["a", "b", "c", "d"], [0, 0, 5, -1], table, settings)
    )


def test_stats_json_round_trips() -> None:
    audited = _typed(
        gold_status=["ok", "ok", "disputed", "unparseable"],
        gold=stats.GoldSettings(gold_min_votes=3, gold_min_share=0.5, exclude_disputed=True),
    )
    for x in (_typed(), audited, replace(audited, gold_majority=_majority())):
        d = x.to_dict()
        assert stats.BuildStats.from_dict(d) == x
        # as written to and read back from stats.json: the same object, the same text
        text = json.dumps(d, indent=2)
        back = stats.BuildStats.from_dict(json.loads(text))
        assert back == x
        assert json.dumps(back.to_dict(), indent=2) == text
    assert list(_stats()) == [
        "recipe",
        "model",
        "engine",
        "sampling",
        "grader",
        "totals",
        "stop_reasons",
        "stop_reasons_per_level",
        "yield_rule",
        "fail_rate",
        "strategies",
        "dars",
        "gold_audit",
    ]
    assert "gold_majority" not in _stats()
    assert list(replace(audited, gold_majority=_majority()).to_dict())[-1] == "gold_majority"


def test_save_and_load(tmp_path: Path) -> None:
    x = _typed()
    stats.save_stats(x, tmp_path / "stats.json")
    assert stats.load_stats(tmp_path / "stats.json") == x


def test_a_builds_stats_json_loads_and_writes_back_the_same() -> None:
    """The stats.json of a scripted build (perf/compare_outputs.py's, 12 queries) loads
    into the typed statistics and writes back the same JSON, key order included."""
    saved = json.loads((DATA / "stats-example.json").read_text(encoding="utf-8"))
    typed = stats.BuildStats.from_dict(saved)
    back = typed.to_dict()
    assert back == saved
    assert json.dumps(back) == json.dumps(saved)  # key order too
    assert typed.dars.max_trials == 24 and typed.totals.queries == 12
    assert list(typed.strategies) == ["uniform", "prop2diff", "vrt"]
    assert typed.gold_audit is not None and typed.gold_majority is None
    assert stats.format_table(typed).splitlines()[0].startswith("strategy")


def test_a_missing_part_is_named() -> None:
    d = _stats()
    del d["strategies"]["uniform"]["filters"]
    with pytest.raises(DartError, match="stats strategies.uniform: missing filters"):
        stats.BuildStats.from_dict(d)
    d = _stats()
    d["totals"]["extra"] = 1
    with pytest.raises(DartError, match="stats totals: unknown extra"):
        stats.BuildStats.from_dict(d)
    d = _stats()
    del d["yield_rule"]
    with pytest.raises(DartError, match="stats: missing yield_rule"):
        stats.BuildStats.from_dict(d)


def test_every_part_names_what_is_missing_or_unknown() -> None:
    """The generic reader checks every record, nested objects and inline ones included."""
    audited = _typed(
        gold_status=["ok", "ok", "disputed", "unparseable"],
        gold=stats.GoldSettings(gold_min_votes=3, gold_min_share=0.5, exclude_disputed=True),
    )
    cases = [
        (("fail_rate", "histogram"), "bins", 3, "stats fail_rate: unknown histogram.bins"),
        (("gold_audit",), "gold_min_votes", None, "stats gold_audit: missing gold_min_votes"),
        (("dars",), "k_x", 1, "stats dars: unknown k_x"),
        (("yield_rule", "stated_prior"), "zero", None, "stats yield_rule.stated_prior: missing"),
        ((), "extra", 1, "stats: unknown extra"),
    ]
    for path, key, value, message in cases:
        d = audited.to_dict()
        node = d
        for part in path:
            node = node[part]
        if value is None:
            del node[key]
        else:
            node[key] = value
        with pytest.raises(DartError, match=message.replace(".", r"\.")):
            stats.BuildStats.from_dict(d)
    d = audited.to_dict()
    d["model"] = ["m"]
    with pytest.raises(DartError, match="stats model: expected an object, got list"):
        stats.BuildStats.from_dict(d)


def test_generic_form_of_records() -> None:
    """Inline keys, renamed and nested keys, omitted Nones, tuples, dicts and arrays."""
    from dataclasses import dataclass, field

    row = stats.StopRow(5, {"target": 2, "max_trials": 1})
    assert stats.to_json(row) == {"level": 5, "target": 2, "max_trials": 1}
    assert stats.from_json(stats.StopRow, stats.to_json(row)) == row
    hist = stats.FailRate(None, "x.parquet", (0.0, 0.5, 1.0), (3, 4))
    assert stats.to_json(hist) == {
        "phase_samples": None,
        "from": "x.parquet",
        "histogram": {"edges": [0.0, 0.5, 1.0], "counts": [3, 4]},
    }
    assert stats.FailRate.from_dict(hist.to_dict()) == hist

    @dataclass(frozen=True)
    class Holder:
        rows: dict[str, stats.StopRow]
        values: np.ndarray
        note: str | None = field(default=None, metadata=stats.json_layout(omit_none=True))

    held = Holder({"a": row}, np.array([1, 2]))
    plain = stats.to_json(held)
    assert plain == {"rows": {"a": {"level": 5, "target": 2, "max_trials": 1}}, "values": [1, 2]}
    back = stats.from_json(Holder, json.loads(json.dumps(plain)))
    assert back.rows == {"a": row} and back.note is None
    assert isinstance(back.values, np.ndarray) and back.values.tolist() == [1, 2]
    assert stats.to_json(np.int64(3)) == 3 and type(stats.to_json(np.int64(3))) is int
