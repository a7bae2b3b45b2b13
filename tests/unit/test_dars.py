"""DARS targets, scheduler and stop rules (pure functions, no engine)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dart_hf import dars
from dart_hf.config import DarsConfig, build_dataclass
from dart_hf.dars import passrate
from dart_hf.errors import DartError
from dart_hf.recipe import load_recipe


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


def _random_state(rng: np.random.Generator, n: int, cfg: DarsConfig) -> dars.State:
    st = dars.new_state([str(i) for i in range(n)], list(rng.integers(0, 6, n)), ["x"] * n)
    st["samples"][:] = rng.integers(1, cfg.max_trials + 1, n)
    p = np.where(rng.random(n) < 0.3, 0.0, rng.beta(0.3, 2, n))
    st["corrects"][:] = rng.binomial(st["samples"], p)
    st = dars.freeze_difficulty(st, cfg, np.full(n, 0.9), np.full(n, 16))
    return dars.fit_prior(st, cfg)


def test_stop_prices_are_the_ones_the_stops_were_decided_at() -> None:
    """A query stopped by a round records the price and first-response value in force for
    that decision (the state's `Pricing` before the stops), not those of the state after
    them: once every query is closed no row is left to lose, and that state's price is the
    grid's highest rate (999.9), which the stops never used."""
    rng = np.random.default_rng(5)
    cfg = DarsConfig(strategies=("uniform",), k_u=8, max_trials=256, budget=10_000)
    st = _random_state(rng, 60, cfg)
    st["done"][:] = False
    st["stop_reason"][:] = None
    before = dars.Pricing(st, cfg)
    out = dars.apply_stop_rules(st, cfg, budget_left=0, pricing=before)
    assert out["done"].all() and (out["stop_reason"] == "budget").any()
    assert np.allclose(out["stop_price"], before.prices.min_yield)
    assert np.allclose(out["stop_first_rows"], before.prices.first_rows[before.beliefs.group])
    after = dars.Pricing(out, cfg).prices.min_yield
    assert after != before.prices.min_yield  # the closed state's price differs
    # and without a pricing given, the same figures
    again = dars.apply_stop_rules(st, cfg, budget_left=0)
    assert np.array_equal(again["stop_price"], out["stop_price"])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("min_yield", [2.0, None])
def test_yield_rule_keeps_every_query_worth_its_price(seed: int, min_yield) -> None:
    """A query with a correct response is stopped only when below the price per 1,000.

    The price is `min_yield` when stated, else the one `row_loss` allows (`dars.prices`),
    recorded per stopped query in `stop_price`.
    """
    rng = np.random.default_rng(seed)
    cfg = DarsConfig(strategies=("prop2diff",), k_p=192, max_trials=8192, min_yield=min_yield)
    st = _random_state(rng, 3000, cfg)
    price = dars.prices(st, cfg).min_yield
    assert price == (min_yield if min_yield is not None else price) and price > 0
    out = dars.apply_stop_rules(st, cfg, None)
    c, n, t = out["corrects"], out["samples"], out["target"]
    # new correct responses per 1,000 samples: the posterior mean under the level's prior
    expected = 1000 * dars.posterior_mean(out, cfg)
    assert np.allclose(dars.yield_rates(out, cfg)[(c > 0) & (c < t)], expected[(c > 0) & (c < t)])
    some = (c > 0) & (c < t) & (n < cfg.max_trials)
    assert (out["stop_reason"][some & (expected >= price)] == None).all()  # noqa: E711
    low = out["stop_reason"] == "low_yield"
    assert low.any() and (expected[low] < price).all() and (c[low] > 0).all()
    assert np.allclose(out["stop_price"][out["done"]], price)
    assert np.isnan(out["stop_price"][~out["done"]]).all()
    # Queries stopped with none are told apart from those stopped below target with some.
    nc = out["stop_reason"] == "no_correct"
    assert nc.any() and (c[nc] == 0).all()


def test_no_correct_stop_is_bounded() -> None:
    """A query never solved stops after a bounded number of samples, not before the floor."""
    cfg = DarsConfig(
        strategies=("uniform",),
        k_u=40,
        max_trials=8192,
        difficulty_samples=64,
        round_cap=1024,
        min_yield=3.0,
        first_value=1.0,
        prior_fit=False,
        no_correct_min_samples=128,
    )
    bound = dars.first_stop_samples(cfg, cfg.min_yield)
    assert 128 <= bound < cfg.max_trials
    # The bound is where one more sample's value (a first correct response, worth
    # first_value x t rows plus what it unlocks) falls below the price.
    stated = passrate.beta_weights(cfg.prior_zero, cfg.prior_a, cfg.prior_b)
    curve = dars.none_curve(stated, 40.0, cfg)
    assert (np.diff(curve) <= 1e-12).all()  # falls with n: stopping for good is right
    assert curve[bound - 1] >= cfg.min_yield > curve[bound]
    # Worth more for a larger target, and exactly the first-value part without the unlock.
    assert (dars.none_curve(stated, 80.0, cfg) > curve).all()
    p = passrate.P
    post = stated * (1 - p) ** 100
    assert curve[100] >= 1000 * (post @ (p * 40.0)) / post.sum()
    st = dars.new_state(["never", "easy"], [5, 0], ["math", "gsm8k"])
    st["samples"][:] = 64
    st["corrects"][:] = [0, 60]
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, None)
    while not st["done"].all():
        k = dars.schedule(st, cfg, None)
        assert k[0] == 0 or st["samples"][0] + k[0] <= bound
        st["samples"] = st["samples"] + k
        st["corrects"] = st["corrects"] + np.array([0, k[1]])
        st = dars.apply_stop_rules(st, cfg, None)
    assert st["stop_reason"].tolist() == ["no_correct", "reached"]
    assert st["samples"][0] == bound
    # `no_correct_stop: false` keeps such a query sampling to max_trials.
    off = DarsConfig(**{**_fields(cfg), "no_correct_stop": False})
    reopened = st | {"done": np.array([False, True]), "stop_reason": np.array([None, "reached"])}
    assert not dars.stop_masks(reopened, off)["no_correct"].any()
    assert dars.schedule(reopened, off, None)[0] > 0  # still sampled, not left to close
    # Below no_correct_min_samples a query with none is sampled whatever its index.
    early = reopened | {"samples": np.array([64, 64])}
    floor = DarsConfig(**{**_fields(cfg), "no_correct_min_samples": 4096, "min_yield": 1e6})
    assert dars.schedule(early, floor, None)[0] > 0
    assert not dars.stop_masks(early, floor)["no_correct"].any()


def _fields(cfg: DarsConfig) -> dict:
    return {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}


def test_budget_goes_by_value_not_query_order() -> None:
    cfg = DarsConfig(strategies=("uniform",), k_u=10, max_trials=100, round_cap=50)
    st = dars.new_state(["hard", "mid", "easy"], [5, 3, 0], ["math"] * 3)
    st["samples"][:] = 20
    st["corrects"][:] = [1, 5, 15]
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, 1000)
    full = dars.schedule(st, cfg, None)
    tight = dars.schedule(st, cfg, 10)
    assert tight.sum() <= 10
    # the easy query (highest expected yield) is served first, the hard one last
    assert tight[2] == min(full[2], 10) and tight[0] == 0
    assert dars.fit_budget(np.array([5, 5, 5]), 7, priority=np.array([1.0, 3.0, 2.0])).tolist() == [
        0,
        5,
        2,
    ]


def _outcomes(round_: int, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.random.default_rng([7, round_]).binomial(n, p)


def _drive(cfg: DarsConfig, p: np.ndarray, resume_dir=None) -> dars.State:
    """Rounds as build.run_rounds runs them; with `resume_dir`, save and reload every round."""
    n = len(p)
    st = dars.new_state([f"q{i}" for i in range(n)], [i % 6 for i in range(n)], ["x"] * n)
    st["samples"][:] = cfg.difficulty_samples
    st["corrects"][:] = _outcomes(0, st["samples"], p)
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
    r = 1
    while not st["done"].all():
        if resume_dir is not None:
            path = resume_dir / f"round-{r:03d}.parquet"
            dars.save_state(st, path)
            st = dars.load_state(path)
        k = dars.schedule(st, cfg, dars.budget_left(st, cfg))
        if not k.any():
            st = dars.apply_stop_rules(st, cfg, budget_left=0)
            break
        st = dict(st)
        st["samples"] = st["samples"] + k
        st["corrects"] = st["corrects"] + _outcomes(r, k, p)
        st = dars.apply_stop_rules(st, cfg, dars.budget_left(st, cfg))
        r += 1
    return st


@pytest.mark.parametrize("min_yield", [5.0, None])
@pytest.mark.parametrize("budget", [None, 9000])
def test_resume_after_every_round_equals_an_uninterrupted_run(tmp_path, budget, min_yield) -> None:
    rng = np.random.default_rng(3)
    p = np.where(rng.random(300) < 0.1, 0.0, rng.beta(0.5, 1.5, 300))
    cfg = DarsConfig(
        strategies=("uniform", "prop2diff"),
        k_u=6,
        k_p=12,
        max_trials=200,
        difficulty_samples=8,
        round_cap=64,
        budget=budget,
        min_yield=min_yield,
    )
    straight = _drive(cfg, p)
    resumed = _drive(cfg, p, tmp_path)
    for key in ("samples", "corrects", "target", "done"):
        assert straight[key].tolist() == resumed[key].tolist(), key
    assert list(straight["stop_reason"]) == list(resumed["stop_reason"])
    assert np.allclose(straight["prior_a"], resumed["prior_a"])
    for key in dars.STOP_PRICE_COLUMNS:  # the prices in force, as the rounds had them
        assert np.allclose(straight[key], resumed[key], equal_nan=True), key
    assert (straight["samples"] <= cfg.max_trials).all()
    if budget is not None:
        assert straight["samples"].sum() <= budget


def test_no_correct_settings() -> None:
    assert DarsConfig(no_correct_min_samples=32).no_correct_min_samples == 32
    assert DarsConfig(no_correct_stop=False).no_correct_stop is False
    with pytest.raises(DartError, match="no_correct_stop must be true or false"):
        DarsConfig(no_correct_stop="no")  # type: ignore[arg-type]
    with pytest.raises(DartError, match="no_correct_min_samples must be >= 0"):
        DarsConfig(no_correct_min_samples=-1)
    # the keys of the old hopeless rule are gone: unknown settings, as any other
    for old in ("hopeless", "hopeless_min_samples", "hopeless_alpha"):
        with pytest.raises(TypeError):
            DarsConfig(**{old: 1})
    recipe = load_recipe("paper")
    cfg = build_dataclass(DarsConfig, recipe)
    assert (cfg.k_u, cfg.k_p, cfg.max_trials) == (40, 192, 8192)
    # the paper recipe states tolerances; the price and the first-response value follow
    assert cfg.min_yield is None and cfg.first_value is None
    assert (cfg.row_loss, cfg.coverage_loss) == (0.005, 0.004)


def _tolerance_state(seed: int, n: int = 3000) -> tuple[dars.State, DarsConfig]:
    """A pool after its difficulty phase and two rounds, some queries already given up."""
    rng = np.random.default_rng(seed)
    cfg = DarsConfig(strategies=("prop2diff",), k_p=192, max_trials=8192, difficulty_samples=64)
    levels = rng.integers(0, 6, n)
    p = np.where(rng.random(n) < 0.08, 0.0, rng.beta(0.4, 0.4 + levels / 2.0))
    st = dars.new_state([str(i) for i in range(n)], list(levels), ["x"] * n)
    st["samples"][:] = 64
    st["corrects"][:] = rng.binomial(64, p)
    st = dars.freeze_difficulty(st, cfg)
    st = dars.apply_stop_rules(st, cfg, None)
    for _ in range(2):
        k = dars.schedule(st, cfg, None)
        st = dict(st)
        st["samples"] = st["samples"] + k
        st["corrects"] = st["corrects"] + rng.binomial(k, p)
        st = dars.apply_stop_rules(st, cfg, None)
    return st, cfg


@pytest.mark.parametrize("seed", range(3))
def test_derived_price_is_the_highest_within_row_loss(seed: int) -> None:
    """The price gives up at most `row_loss` of the projected rows; a tighter one is lower."""
    st, cfg = _tolerance_state(seed)
    assert st["done"].any() and not st["done"].all()
    now = dars.prices(st, cfg)
    assert now.derived == (True, True)
    assert 0 <= now.row_loss <= cfg.row_loss + 1e-12
    grid = passrate.P
    k = int(np.argmin(np.abs(grid * 1000 - now.min_yield)))
    assert math.isclose(grid[k] * 1000, now.min_yield)  # a grid rate
    loose = dars.prices(st, DarsConfig(**{**_fields(cfg), "row_loss": 0.05}))
    tight = dars.prices(st, DarsConfig(**{**_fields(cfg), "row_loss": 0.001}))
    assert tight.min_yield <= now.min_yield <= loose.min_yield
    assert tight.min_yield < loose.min_yield
    # a stated price is used as stated, and the tolerance then only sets the first value
    fixed = dars.prices(st, DarsConfig(**{**_fields(cfg), "min_yield": 3.0}))
    assert fixed.min_yield == 3.0 and fixed.derived == (False, True)


@pytest.mark.parametrize("seed", range(3))
def test_derived_first_value_holds_coverage_loss_per_level(seed: int) -> None:
    """Each level's projected coverage loss is within `coverage_loss`, and a looser
    tolerance values a first correct response less (its queries with none stop earlier)."""
    st, cfg = _tolerance_state(seed)
    now = dars.prices(st, cfg)
    feasible = now.first_rows < 1e7 * 0.999  # the already given up may exceed it alone
    assert (now.coverage_loss[feasible] <= cfg.coverage_loss + 1e-9).all()
    loose = dars.prices(st, DarsConfig(**{**_fields(cfg), "coverage_loss": 0.05}))
    assert (loose.first_rows <= now.first_rows + 1e-9).all()
    assert (loose.first_rows < now.first_rows).any()
    # a stated first value is first_value x the level's largest target
    fixed = dars.prices(st, DarsConfig(**{**_fields(cfg), "first_value": 2.0}))
    group = dars.beliefs(st, cfg)[0]
    tmax = np.zeros(len(fixed.first_rows))
    np.maximum.at(tmax, group, st["target"].astype(float))
    assert np.allclose(fixed.first_rows, 2.0 * tmax)


def test_unresolved_mass_is_not_pushed_to_zero() -> None:
    """Counts of 0 in n cannot tell p = 0 from p < 1/n: the fit keeps the stated share there."""
    cfg = DarsConfig(strategies=("uniform",), k_u=40, max_trials=2048)
    n = 400
    st = dars.new_state([str(i) for i in range(n)], [5] * n, ["x"] * n)
    st["samples"][:] = 64
    st["corrects"][: n // 2] = 0
    st["corrects"][n // 2 :] = 40
    st = dars.freeze_difficulty(st, cfg)
    _, weights = dars.beliefs(st, cfg)
    stated = passrate.beta_weights(cfg.prior_zero, cfg.prior_a, cfg.prior_b)
    tiny = (passrate.P > 0) & (passrate.P < 1 / 64)
    region = weights[0, 0] + weights[0, tiny].sum()
    share = stated[tiny].sum() / (stated[0] + stated[tiny].sum())
    assert weights[0, tiny].sum() >= share * region - 1e-9
    assert math.isclose(weights[0].sum(), 1.0)
    # the raw maximum-likelihood fit puts (nearly) all of it at zero
    raw = passrate.fit_grid(st["corrects"], st["samples"], stated)
    assert raw[tiny].sum() < weights[0, tiny].sum()


def test_passrate_grid_fit() -> None:
    """The nonparametric prior finds the unsolvable share and a near-zero mode as they are."""
    rng = np.random.default_rng(0)
    m = 8000
    kind = rng.choice(3, m, p=[0.1, 0.3, 0.6])  # never solvable / near zero / easy
    p = np.where(kind == 0, 0.0, np.where(kind == 1, 10 ** rng.uniform(-3, -2, m), 0.8))
    n = np.where(np.arange(m) < 4000, 4096, 64)
    c = rng.binomial(n, p)
    start = passrate.beta_weights(0.1, 0.5, 0.5)
    w = passrate.fit_grid(c, n, start)
    grid = passrate.P
    assert abs(w.sum() - 1) < 1e-9
    assert abs(w[0] - 0.1) < 0.03
    near = (grid > 5e-4) & (grid < 2e-2)
    assert abs(w[near].sum() - 0.3) < 0.04
    assert abs(w[grid > 0.5].sum() - 0.6) < 0.03
    # A posterior follows the query's own counts.
    post = passrate.posterior(np.array([400, 0]), np.array([500, 4096]), w)
    assert abs(post[0] @ grid - 0.8) < 0.02 and post[1, 0] > 0.5
    levels, per_level = passrate.fit_grid_pool(np.zeros(m, dtype=int), c, n, start)
    assert levels.tolist() == [0] and np.allclose(per_level[0], w)
    zero, a, b = passrate.summary(w)
    assert abs(zero - w[0]) < 1e-12 and a > 0 and b > 0


def test_schedule_is_bounded() -> None:
    cfg = DarsConfig(
        strategies=("uniform",),
        k_u=10,
        max_trials=50,
        round_cap=20,
        budget=1000,
        prior_fit=False,
        min_yield=0.0,  # every open query is worth sampling: only the caps bind
        first_value=1.0,
    )
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
    pq.write_table(pa.table({"id": ["a", "b"], "fail_rate": [0.5, 0.0], "fail_rate_samples": [8, 16]}), path)
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


def test_derived_price_holds_row_loss_for_every_release() -> None:
    """A pool serving Uniform and Prop2Diff: the price is the lower of the two releases'
    prices, each computed with its own targets (not one price for the combined target)."""
    rng = np.random.default_rng(5)
    n = 3000
    cfg = DarsConfig(
        strategies=("uniform", "prop2diff"), k_u=40, k_p=192, max_trials=8192, difficulty_samples=64
    )
    levels = rng.integers(0, 6, n)
    p = np.where(rng.random(n) < 0.05, 0.0, rng.beta(0.5, 0.3 + levels / 3.0))
    st = dars.new_state([str(i) for i in range(n)], list(levels), ["x"] * n)
    st["samples"][:] = 64
    st["corrects"][:] = rng.binomial(64, p)
    st = dars.freeze_difficulty(st, cfg)
    both = dars.prices(st, cfg).min_yield
    alone = {
        name: dars.prices(st, DarsConfig(**{**_fields(cfg), "strategies": (name,)})).min_yield
        for name in cfg.strategies
    }
    assert alone["uniform"] != alone["prop2diff"]
    assert both == min(alone.values())


def test_a_binding_budget_values_a_first_response_at_the_budget_rate() -> None:
    """While the budget binds, a first correct response counts BUDGET_FIRST_VALUE x target
    (the schedule equals one with that `first_value` stated); without one, the derived value."""
    st, cfg = _tolerance_state(1)
    stated = DarsConfig(**{**_fields(cfg), "first_value": dars.BUDGET_FIRST_VALUE})
    tight = 20_000
    assert dars.budget_price(st, cfg, tight) > dars.prices(st, cfg).min_yield  # it binds
    assert dars.schedule(st, cfg, tight).tolist() == dars.schedule(st, stated, tight).tolist()
    assert dars.schedule(st, cfg, tight).sum() <= tight
    none = ~st["done"] & (st["corrects"] == 0)
    assert none.any()
    assert not np.allclose(dars.yield_rates(st, cfg)[none], dars.yield_rates(st, stated)[none])


@pytest.mark.parametrize("name", ["row_loss", "coverage_loss"])
def test_tolerances_out_of_range_are_refused(name: str) -> None:
    for bad in (-0.1, 1.0, "half"):
        with pytest.raises(DartError, match=f"{name} must be a share in \\[0, 1\\), got"):
            DarsConfig(**{name: bad})


def test_a_full_disk_while_a_state_is_saved_names_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 27.11: the message named the build's folder (the lock's catch-all), not the file."""
    import errno

    from dart_hf.errors import DartError

    def full(table: object, where: object, *args: object, **kwargs: object) -> None:
        Path(str(where)).write_bytes(b"PAR1")  # the temporary file is begun, then the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dars.state.pq, "write_table", full)
    path = tmp_path / "state" / "round-003.parquet"
    state = dars.new_state(["a"], [1], ["math"])
    with pytest.raises(DartError, match=rf"^disk full while writing {path}: "):
        dars.save_state(state, path)
    assert list(path.parent.iterdir()) == []  # no temporary file left
