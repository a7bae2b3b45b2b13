"""Difficulty-aware rejection sampling: targets, the adaptive scheduler, stop rules, state.

One pool serves every requested strategy. The per-query state is a table of numpy columns
(`State`), saved as Arrow/parquet after every round (`state/round-XXX.parquet`):

    id, level, source, samples, corrects, fail_rate, fail_rate_samples,
    target_<strategy>..., target, min_samples, done, stop_reason, last_round

`target` is the largest correct-response target over the strategies that count correct
responses (uniform, prop2diff); VRT needs raw samples instead, so it sets `min_samples`
(= `vrt_n`) and `target_vrt` holds that sample count. A query is finished when it has
`corrects >= target` and `samples >= min_samples` (`reached`), has used `max_trials`
(`max_trials`), is judged unable to reach its target (`hopeless`), or the build's raw-sample
budget is spent (`budget`).

Every function here is pure over numpy arrays: the build calls them, the scheduler benchmark
drives the very same functions with simulated Bernoulli outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dart_hf.config import DarsConfig
from dart_hf.errors import DartError

State = dict[str, np.ndarray]

STOP_REASONS: tuple[str, ...] = ("reached", "max_trials", "budget", "hopeless")


def _uniform(fail_rate: np.ndarray, config: DarsConfig) -> np.ndarray:
    return np.full(len(fail_rate), config.k_u, dtype=np.int64)


def _prop2diff(fail_rate: np.ndarray, config: DarsConfig) -> np.ndarray:
    fr = np.nan_to_num(np.asarray(fail_rate, dtype=np.float64), nan=1.0)
    if config.normalize_fail_rate and len(fr) and fr.max() > 0:
        fr = fr / fr.max()
    # Round before ceil so 192 * 0.25 stays 48 despite float noise.
    t = np.ceil(np.round(config.k_p * fr, 9)).astype(np.int64)
    return np.maximum(t, 1)


def _vrt(fail_rate: np.ndarray, config: DarsConfig) -> np.ndarray:
    # VRT's "target" is a number of raw samples, not of correct responses.
    return np.full(len(fail_rate), config.vrt_n, dtype=np.int64)


# name -> (targets from frozen fail rates, whether the target counts correct responses)
STRATEGIES: dict[str, tuple[Callable[[np.ndarray, DarsConfig], np.ndarray], bool]] = {
    "uniform": (_uniform, True),
    "prop2diff": (_prop2diff, True),
    "vrt": (_vrt, False),
}


def new_state(ids: Sequence[str], levels: Sequence[int | None], sources: Sequence[str]) -> State:
    """Fresh per-query state: nothing sampled, no targets yet."""
    n = len(ids)
    if n == 0:
        raise DartError("the query pool has no rows")
    return {
        "id": np.asarray(ids, dtype=object),
        "level": np.asarray([-1 if lv is None else int(lv) for lv in levels], dtype=np.int64),
        "source": np.asarray(sources, dtype=object),
        "samples": np.zeros(n, dtype=np.int64),
        "corrects": np.zeros(n, dtype=np.int64),
        "fail_rate": np.full(n, np.nan),
        "fail_rate_samples": np.zeros(n, dtype=np.int64),
        "target": np.zeros(n, dtype=np.int64),
        "min_samples": np.zeros(n, dtype=np.int64),
        "done": np.zeros(n, dtype=bool),
        "stop_reason": np.full(n, None, dtype=object),
        "last_round": np.full(n, -1, dtype=np.int64),
    }


def freeze_difficulty(
    state: State,
    config: DarsConfig,
    fail_rate: np.ndarray | None = None,
    fail_rate_samples: np.ndarray | None = None,
) -> State:
    """Freeze fail rates (from the counts so far, or given) and set every strategy's target.

    Args:
        state: Current state; not modified.
        config: Strategies and their parameters.
        fail_rate: Fail rates from an earlier run; None computes 1 - corrects / samples.
        fail_rate_samples: Samples behind each given fail rate.

    Returns:
        A new state with `fail_rate`, `fail_rate_samples`, `target_<strategy>`, `target`
        and `min_samples` set.
    """
    out = dict(state)
    if fail_rate is None:
        samples = state["samples"]
        with np.errstate(invalid="ignore", divide="ignore"):
            fr = np.where(samples > 0, 1.0 - state["corrects"] / np.maximum(samples, 1), np.nan)
        frs = samples.copy()
    else:
        fr = np.asarray(fail_rate, dtype=np.float64)
        frs = np.asarray(
            fail_rate_samples if fail_rate_samples is not None else np.zeros(len(fr)),
            dtype=np.int64,
        )
    out["fail_rate"] = fr
    out["fail_rate_samples"] = frs
    n = len(fr)
    target = np.zeros(n, dtype=np.int64)
    min_samples = np.zeros(n, dtype=np.int64)
    for name in config.strategies:
        fn, counts_correct = STRATEGIES[name]
        t = fn(fr, config)
        out[f"target_{name}"] = t
        if counts_correct:
            target = np.maximum(target, t)
        else:
            min_samples = np.maximum(min_samples, t)
    out["target"] = target
    out["min_samples"] = np.minimum(min_samples, config.max_trials)
    return out


def update_counts(state: State, index: np.ndarray, correct: np.ndarray, round_: int) -> State:
    """Add graded samples to the counts.

    Args:
        state: Current state; not modified.
        index: Row position in the state of each graded sample.
        correct: Whether each sample is correct (null/None counts as not correct).
        round_: The round these samples belong to.
    """
    out = dict(state)
    index = np.asarray(index, dtype=np.int64)
    ok = np.asarray([bool(c) for c in correct], dtype=np.int64) if len(correct) else index * 0
    samples = state["samples"].copy()
    corrects = state["corrects"].copy()
    np.add.at(samples, index, 1)
    np.add.at(corrects, index, ok)
    out["samples"] = samples
    out["corrects"] = corrects
    last = state["last_round"].copy()
    last[np.unique(index)] = round_
    out["last_round"] = last
    return out


def hopeless_mask(state: State, config: DarsConfig) -> np.ndarray:
    """Queries the hopeless rule stops.

    The rule: at least `hopeless_min_samples` samples, none correct, and the one-sided upper
    confidence bound of the pass rate (zero successes in n trials: 1 - alpha ** (1 / n))
    times the remaining trials is below the correct responses still needed. Queries with a
    correct response are never stopped by it, so it cannot lose kept rows already found.
    """
    if not config.hopeless:
        return np.zeros(len(state["samples"]), dtype=bool)
    n = state["samples"]
    need = state["target"] - state["corrects"]
    with np.errstate(divide="ignore"):
        p_ub = 1.0 - np.power(config.hopeless_alpha, 1.0 / np.maximum(n, 1))
    remaining = config.max_trials - n
    return (
        ~state["done"]
        & (n >= config.hopeless_min_samples)
        & (state["corrects"] == 0)
        & (need > 0)
        & (p_ub * remaining < need)
    )


def apply_stop_rules(state: State, config: DarsConfig, budget_left: int | None) -> State:
    """Mark finished queries with their stop reason (first matching rule wins).

    Order: `reached` (>= target correct, not strictly more, and >= min_samples raw samples),
    `max_trials`, `hopeless`, then `budget` for every query still open once the budget is spent.
    """
    out = dict(state)
    done = state["done"].copy()
    reason = state["stop_reason"].copy()
    open_ = ~done
    reached = (state["corrects"] >= state["target"]) & (state["samples"] >= state["min_samples"])
    rules = [
        ("reached", reached),
        ("max_trials", state["samples"] >= config.max_trials),
        ("hopeless", hopeless_mask(state, config)),
    ]
    if budget_left is not None and budget_left <= 0:
        rules.append(("budget", np.ones(len(done), dtype=bool)))
    for name, mask in rules:
        hit = open_ & mask
        reason[hit] = name
        done |= hit
        open_ &= ~hit
    out["done"] = done
    out["stop_reason"] = reason
    return out


def schedule(state: State, config: DarsConfig, budget_left: int | None) -> np.ndarray:
    """Raw samples to draw per query this round (0 for finished queries).

    For an open query with `need` correct responses still missing and pass-rate estimate
    p = max((corrects + 0.5) / (samples + 1), p_floor), it asks for
    ceil(safety * need / p) (before any sample: p = 1 - a loaded fail rate), at most
    max(`growth` x its samples so far, `difficulty_samples`), at least what
    `min_samples` still requires and at least 1, capped by `round_cap`, by the trials left
    before `max_trials`, and (scaled down proportionally, in query order) by the budget left.
    """
    open_ = ~state["done"]
    samples = state["samples"]
    need = np.maximum(state["target"] - state["corrects"], 0)
    p_hat = (state["corrects"] + 0.5) / (samples + 1.0)
    # Before its first sample, a query with a loaded fail rate starts from that estimate.
    prior = 1.0 - np.nan_to_num(state["fail_rate"], nan=0.5)
    p_hat = np.maximum(np.where(samples > 0, p_hat, prior), config.p_floor)
    want = np.ceil(config.safety * need / p_hat).astype(np.int64)
    grow = np.maximum(np.ceil(config.growth * samples), config.difficulty_samples)
    want = np.minimum(want, grow.astype(np.int64))
    want = np.maximum(want, state["min_samples"] - samples)
    want = np.maximum(want, 1)
    want = np.minimum(want, config.round_cap)
    want = np.minimum(want, config.max_trials - samples)
    want = np.where(open_, np.maximum(want, 0), 0)
    if budget_left is not None:
        want = fit_budget(want, budget_left)
    return want


def fit_budget(want: np.ndarray, budget_left: int) -> np.ndarray:
    """Scale a request vector down so it sums to at most `budget_left` (deterministic)."""
    total = int(want.sum())
    if total <= budget_left:
        return want
    if budget_left <= 0:
        return np.zeros_like(want)
    scaled = np.floor(want * (budget_left / total)).astype(np.int64)
    scaled = np.where(want > 0, np.maximum(scaled, 1), 0)
    # Trim in query order so the sum fits exactly.
    over = int(scaled.sum()) - budget_left
    if over > 0:
        csum = np.cumsum(scaled)
        keep = csum <= budget_left
        cut = np.argmin(keep) if not keep.all() else len(scaled)
        scaled[cut:] = 0
        if cut < len(scaled):
            scaled[cut] = budget_left - (int(csum[cut - 1]) if cut > 0 else 0)
    return scaled


def budget_left(state: State, config: DarsConfig) -> int | None:
    """Raw samples the build may still draw (None: no budget set)."""
    if config.budget is None:
        return None
    return config.budget - int(state["samples"].sum())


def target_columns(config: DarsConfig) -> list[str]:
    """The `target_<strategy>` columns of a state built with `config`."""
    return [f"target_{name}" for name in config.strategies]


def state_table(state: State) -> pa.Table:
    """The state as an Arrow table (level -1 becomes null)."""
    cols: dict[str, pa.Array] = {}
    for key, values in state.items():
        if key == "level":
            cols[key] = pa.array(values, type=pa.int32(), mask=values < 0)
        elif key in ("id", "source", "stop_reason"):
            cols[key] = pa.array(list(values), type=pa.string())
        else:
            cols[key] = pa.array(values)
    return pa.table(cols)


def save_state(state: State, path: str | Path) -> None:
    """Write the state atomically as parquet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(state_table(state), tmp)
    tmp.replace(path)


def load_state(path: str | Path) -> State:
    """Read a state written by `save_state`."""
    table = pq.read_table(path)
    out: State = {}
    for name in table.column_names:
        col = table.column(name)
        if name == "level":
            out[name] = np.asarray(col.fill_null(-1).to_numpy(), dtype=np.int64)
        elif name in ("id", "source", "stop_reason"):
            out[name] = np.asarray(col.to_pylist(), dtype=object)
        else:
            out[name] = col.to_numpy(zero_copy_only=False).copy()
    return out


def load_fail_rates(path: str | Path, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fail rates (and their sample counts) of `ids` from an earlier run's table.

    Accepts a query-info or state parquet with columns `id`, `fail_rate` and optionally
    `fail_rate_samples`. Raises DartError naming the file when a column or a query is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise DartError(f"fail_rate_from: file not found: {path}")
    table = pq.read_table(path)
    for col in ("id", "fail_rate"):
        if col not in table.column_names:
            raise DartError(
                f"fail_rate_from {path}: missing column {col!r}; columns: "
                + ", ".join(table.column_names)
            )
    frs = (
        table.column("fail_rate_samples").to_pylist()
        if "fail_rate_samples" in table.column_names
        else [0] * table.num_rows
    )
    known = dict(
        zip(
            table.column("id").to_pylist(),
            zip(table.column("fail_rate").to_pylist(), frs, strict=False),
            strict=False,
        )
    )
    missing = [i for i in ids if i not in known or known[i][0] is None]
    if missing:
        raise DartError(
            f"fail_rate_from {path}: no fail_rate for {len(missing)} of {len(ids)} queries "
            f"(e.g. {missing[0]!r})"
        )
    fr = np.asarray([known[i][0] for i in ids], dtype=np.float64)
    if np.any((fr < 0) | (fr > 1)):
        raise DartError(f"fail_rate_from {path}: fail_rate values must lie in [0, 1]")
    return fr, np.asarray([known[i][1] or 0 for i in ids], dtype=np.int64)
