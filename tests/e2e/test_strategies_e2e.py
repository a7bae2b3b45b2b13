"""A strategy added as one record builds end to end (scripted engine), with its release and card."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from dart_hf.build import cards
from dart_hf.build import run as build
from dart_hf.strategies import STRATEGIES, Strategy


def _two_level(fail_rate: np.ndarray, *, k_p: int) -> np.ndarray:
    """A made-up strategy: k_p correct responses for queries failed more often than not, else 1."""
    fr = np.nan_to_num(np.asarray(fail_rate, dtype=np.float64), nan=1.0)
    return np.where(fr > 0.5, k_p, 1).astype(np.int64)


SETTINGS = {
    "engine": "scripted",
    "pool": "gsm8k,math",
    "limit": 8,
    "template": "deepseekmath",
    "temperature": 1.0,
    "max_tokens": 4096,
    "k_u": 2,
    "k_p": 4,
    "vrt_n": 4,
    "max_trials": 16,
    "difficulty_samples": 4,
    "round_cap": 6,
    "no_correct_min_samples": 8,
    "shard_size": 8,
    "num_proc": 1,
}


@pytest.mark.parametrize("counts", ["correct", "samples"])
def test_a_new_strategy_from_one_record_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: str
) -> None:
    record = Strategy(
        "two_level",
        _two_level,
        ("k_p",),
        counts,
        "dart-math-two-level",
        "two-level",
        "strategy.md.j2",
        "Two-level (dart-hf)",
        description="k_p responses for hard queries.",
    )
    monkeypatch.setitem(STRATEGIES, record.name, record)
    out = tmp_path / "run"
    result = build.run_build({**SETTINGS, "strategies": "uniform,two_level"}, out)

    assert set(result.releases) == {"uniform", "two_level", "pool"}
    folder = out / "releases" / "dart-math-two-level"
    assert result.releases["two_level"] == folder
    queries = load_dataset(str(out / "releases" / build.POOL_RELEASE), "queries", split="train")
    target = queries["target_two_level"]
    assert target == _two_level(np.array(queries["fail_rate"], dtype=float), k_p=4).tolist()
    released = Counter(load_dataset(str(folder), split="train")["id"])
    kept = dict(zip(queries["id"], queries["kept_two_level"], strict=True))
    assert {q: released.get(q, 0) for q in kept} == kept
    samples = dict(zip(queries["id"], queries["samples"], strict=True))
    if counts == "correct":  # the first `target` correct responses: never more
        assert all(k <= t for k, t in zip(queries["kept_two_level"], target, strict=True))
    else:  # correct among the first `target` raw samples, each query sampled that far
        assert all(samples[q] >= min(t, 16) for q, t in zip(queries["id"], target, strict=True))
    stats = json.loads((out / "stats.json").read_text())
    s = stats["strategies"]["two_level"]
    assert s["params"] == {"k_p": 4, "max_trials": 16, "budget": None}
    assert s["rows"] == sum(released.values())
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "# Two-level (dart-hf)" in card or "pretty_name: Two-level (dart-hf)" in card
    assert (
        "**Two-level (dart-hf):** k_p responses for hard queries. Parameters: `k_p = 4`. "
        f"{sum(released.values())} (query, response) pairs.\n"
    ) in card
    assert "two-level" in cards.card_kinds()
