"""DARS targets, scheduler and stop rules (pure functions, no engine)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dart_hf import dars
from dart_hf.config import DarsConfig
from dart_hf.errors import DartError


def _state(n: int = 4) -> dars.State:
    return dars.new_state([f"q{i}" for i in range(n)], [0, 1, 5, None][:n], ["gsm8k"] * n)


def test_targets_follow_the_formulas() -> None:
    cfg = DarsConfig(strategies=("uniform", "prop2diff", "vrt"), k_u=5, k_p=10, vrt_n=7)
    st = _state()
    st["samples"][:] = 8
    st["corrects"][:] = [8, 6, 1, 0]
    st = dars.freeze_difficulty(st, cfg)
    fr = np.array([0.0, 0.25, 7 / 8, 1.0])
    assert np.allclose(st["fail_rate"], fr)
    assert st["fail_rate_samples"].tolist() == [8, 8, 8, 8]
    assert st["target_uniform"].tolist() == [5] * 4
    # ceil(k_p * fail_rate), at least one.
    assert st["target_prop2diff"].tolist() == [max(1, math.ceil(10 * f)) for f in fr]
    assert st["target_prop2diff"][0] == 1
    assert st["target_vrt"].tolist() == [7] * 4
    assert st["target"].tolist() == [5, 5, 9, 10]
    assert st["min_samples"].tolist() == [7] * 4


def test_normalised_fail_rate() -> None:
    cfg = DarsConfig(strategies=("prop2diff",), k_p=10, normalize_fail_rate=True)
    st = _state(3)
    st = dars.freeze_difficulty(st, cfg, np.array([0.1, 0.25, 0.5]), np.array([4, 4, 4]))
    assert st["target_prop2diff"].tolist() == [2, 5, 10]


def test_exactly_t_correct_finishes() -> None:
    cfg = DarsConfig(strategies=("uniform",), k_u=3, max_trials=100)
    st = dars.freeze_difficulty(_state(2), cfg)
    st["samples"][:] = 10
    st["corrects"][:] = [3, 2]
    st = dars.apply_stop_rules(st, cfg, None)
    assert st["done"].tolist() == [True, False]
    assert st["stop_reason"].tolist() == ["reached", None]


def test_stop_rules_order_and_budget() -> None:
    cfg = DarsConfig(strategies=("uniform",), k_u=3, max_trials=10, budget=100)
    st = dars.freeze_difficulty(_state(3), cfg)
    st["samples"][:] = [10, 10, 4]
    st["corrects"][:] = [3, 1, 0]
    st = dars.apply_stop_rules(st, cfg, budget_left=0)
    assert st["stop_reason"].tolist() == ["reached", "max_trials", "budget"]


def test_hopeless_rule() -> None:
    cfg = DarsConfig(strategies=("uniform",), k_u=40, max_trials=2048, hopeless_min_samples=32)
    st = dars.freeze_difficulty(_state(3), cfg)
    st["samples"][:] = [200, 200, 20]
    st["corrects"][:] = [0, 1, 0]
    mask = dars.hopeless_mask(st, cfg)
    # 1 - 0.05 ** (1/200) ~ 0.0149; * 1848 remaining ~ 27.5 < 40 needed.
    assert mask.tolist() == [True, False, False]
    off = DarsConfig(strategies=("uniform",), k_u=40, max_trials=2048, hopeless=False)
    assert not dars.hopeless_mask(st, off).any()


def test_schedule_is_bounded() -> None:
    cfg = DarsConfig(strategies=("uniform",), k_u=10, max_trials=50, round_cap=20, budget=1000)
    st = dars.freeze_difficulty(_state(4), cfg)
    st["samples"][:] = [4, 48, 4, 4]
    st["corrects"][:] = [4, 0, 0, 1]
    st["done"][2] = True
    n = dars.schedule(st, cfg, 1000)
    assert n[2] == 0
    assert n[1] == 2  # trials left before max_trials
    assert (n <= cfg.round_cap).all() and (n[[0, 1, 3]] >= 1).all()
    grow = np.maximum(np.ceil(cfg.growth * st["samples"]), cfg.difficulty_samples)
    assert (n <= np.maximum(grow, 1)).all()
    small = dars.schedule(st, cfg, 5)
    assert small.sum() <= 5


def test_fit_budget_exact() -> None:
    want = np.array([10, 0, 7, 3])
    got = dars.fit_budget(want, 9)
    assert got.sum() <= 9 and got[1] == 0 and (got <= want).all()
    assert dars.fit_budget(want, 100).tolist() == want.tolist()
    assert dars.fit_budget(want, 0).sum() == 0


@pytest.mark.parametrize("seed", range(5))
def test_simulated_runs_respect_limits(seed: int) -> None:
    """Drive the scheduler with Bernoulli outcomes: max_trials and budget are never exceeded."""
    rng = np.random.default_rng(seed)
    n = 200
    p = np.where(rng.random(n) < 0.1, 0.0, rng.beta(2, 1, n))
    budget = int(rng.integers(2000, 20000))
    cfg = DarsConfig(
        strategies=("uniform", "prop2diff"),
        k_u=8,
        k_p=16,
        max_trials=256,
        budget=budget,
        difficulty_samples=4,
    )
    st = dars.new_state([str(i) for i in range(n)], [0] * n, ["x"] * n)
    st["samples"][:] = 4
    st["corrects"][:] = rng.binomial(4, p)
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
    for _ in range(1000):
        if st["done"].all():
            break
        k = dars.schedule(st, cfg, dars.budget_left(st, cfg))
        assert (k[st["done"]] == 0).all()
        st["samples"] = st["samples"] + k
        st["corrects"] = st["corrects"] + rng.binomial(k, p)
        st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
    assert st["done"].all()
    assert (st["samples"] <= cfg.max_trials).all()
    assert st["samples"].sum() <= budget
    reached = st["stop_reason"] == "reached"
    assert (st["corrects"][reached] >= st["target"][reached]).all()
    assert (st["target_prop2diff"] >= 1).all()


def test_state_roundtrip(tmp_path) -> None:
    cfg = DarsConfig(strategies=("uniform", "vrt"))
    st = dars.freeze_difficulty(_state(), cfg)
    st = dars.apply_stop_rules(st, cfg, 0)
    path = tmp_path / "state" / "round-000.parquet"
    dars.save_state(st, path)
    back = dars.load_state(path)
    assert back.keys() == st.keys()
    for key in st:
        assert list(back[key]) == list(st[key]) or key == "fail_rate"
    table = pq.read_table(path)
    assert table.column("level").null_count == 1
    assert "target_uniform" in table.column_names and "stop_reason" in table.column_names


def test_fail_rate_from(tmp_path) -> None:
    path = tmp_path / "info.parquet"
    pq.write_table(
        pa.table({"id": ["a", "b"], "fail_rate": [0.5, 0.0], "fail_rate_samples": [8, 16]}), path
    )
    fr, frs = dars.load_fail_rates(path, ["b", "a"])
    assert fr.tolist() == [0.0, 0.5] and frs.tolist() == [16, 8]
    with pytest.raises(DartError, match="no fail_rate for 1 of 3"):
        dars.load_fail_rates(path, ["a", "b", "c"])
    with pytest.raises(DartError, match="not found"):
        dars.load_fail_rates(tmp_path / "nope.parquet", ["a"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_u": 0}, "k_u must be"),
        ({"k_p": 0}, "k_p must be"),
        ({"max_trials": 0}, "max_trials must be"),
        ({"strategies": "uniform,best"}, "unknown strategy 'best'; valid: prop2diff, uniform, vrt"),
        ({"strategies": ""}, "at least one"),
        ({"budget": 0}, "budget must be"),
    ],
)
def test_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(DartError, match=match):
        DarsConfig(**kwargs)


def test_empty_pool() -> None:
    with pytest.raises(DartError, match="no rows"):
        dars.new_state([], [], [])
