"""The per-query state of a build (`State`, numpy columns saved as parquet after every round):
its creation, the difficulty phase's fail rates, counting a round's outcomes, saving and
loading."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dart_hf.config import DarsConfig
from dart_hf.errors import DartError
from dart_hf.outputs import disk_full
from dart_hf.strategies import STRATEGIES

State = dict[str, np.ndarray]

STOP_REASONS: tuple[str, ...] = ("reached", "max_trials", "no_correct", "low_yield", "budget")
"""Why a query stopped. `no_correct` and `low_yield` are the yield rule's two cases."""


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
        strategy = STRATEGIES[name]
        t = strategy.compute_targets(fr, config)
        out[f"target_{name}"] = t
        if strategy.counts_correct:
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


STOP_PRICE_COLUMNS = ("stop_price", "stop_first_rows")
"""State columns holding the yield rule's price and first-response value when a query
stopped (written by `apply_stop_rules`; null while it is open)."""
PRIOR_COLUMNS = ("prior_zero", "prior_a", "prior_b")
"""State columns holding each query's prior (its level's fit), written by `apply_stop_rules`."""


GIVEN_UP = ("no_correct", "low_yield")
"""Stop reasons of queries the yield rule gave up on (their further rows count as lost)."""


def stop_counts(reasons: np.ndarray) -> dict[str, int]:
    """Queries per stop reason: every name of `STOP_REASONS`, then any other found (legacy)."""
    values = [r for r in reasons.tolist() if r is not None]
    out = {r: 0 for r in STOP_REASONS}
    for r in values:
        out[r] = out.get(r, 0) + 1
    return out


def budget_left(state: State, config: DarsConfig) -> int | None:
    """Raw samples the build may still draw (None: no budget set)."""
    if config.budget is None:
        return None
    return config.budget - int(state["samples"].sum())


def state_table(state: State) -> pa.Table:
    """The state as an Arrow table (level -1 becomes null)."""
    cols: dict[str, pa.Array] = {}
    for key, values in state.items():
        if key == "level":
            cols[key] = pa.array(values, type=pa.int32(), mask=values < 0)
        elif key in ("id", "source", "stop_reason"):
            cols[key] = pa.array(list(values), type=pa.string())
        elif key in STOP_PRICE_COLUMNS:  # null until the query stops
            cols[key] = pa.array(values, type=pa.float64(), mask=np.isnan(values))
        else:
            cols[key] = pa.array(values)
    return pa.table(cols)


def save_state(state: State, path: str | Path) -> None:
    """Write the state atomically as parquet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with disk_full(path, tmp):  # a full disk names the state, not the build's folder
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
                f"fail_rate_from {path}: missing column {col!r}; columns: " + ", ".join(table.column_names)
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
