"""strategies.py: one record per strategy, and nothing else that knows a strategy by name.

A new strategy is one `Strategy` record: registered here (monkeypatch), it is accepted by the
settings, gets its targets in the DARS state, its release, its statistics and its card from a
scripted build, without any other change.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from dart_hf import build, cards
from dart_hf.config import DarsConfig
from dart_hf.errors import DartError
from dart_hf.strategies import STRATEGIES, Strategy

REPO = Path(__file__).resolve().parents[1]
NAMES = {*STRATEGIES, *(s.card for s in STRATEGIES.values())}


def test_every_record_has_its_template_and_unique_release() -> None:
    templates = {p.name for p in (REPO / "dataset_cards").glob("*.md.j2")}
    assert {s.card_template for s in STRATEGIES.values()} <= templates
    assert len({s.release for s in STRATEGIES.values()}) == len(STRATEGIES)
    assert len({s.card for s in STRATEGIES.values()}) == len(STRATEGIES)
    assert all(name == s.name for name, s in STRATEGIES.items())


def test_the_paper_targets() -> None:
    fr = np.array([0.0, 0.25, 1.0, np.nan])
    cfg = DarsConfig(k_u=3, k_p=8, vrt_n=5, normalize_fail_rate=False)
    assert STRATEGIES["uniform"].compute_targets(fr, cfg).tolist() == [3, 3, 3, 3]
    assert STRATEGIES["prop2diff"].compute_targets(fr, cfg).tolist() == [1, 2, 8, 8]
    assert STRATEGIES["vrt"].compute_targets(fr, cfg).tolist() == [5, 5, 5, 5]
    assert STRATEGIES["prop2diff"].card_params(cfg) == {
        "k_p": 8, "normalize_fail_rate": False, "max_trials": cfg.max_trials, "budget": None,
    }  # fmt: skip


def test_a_record_is_checked() -> None:
    with pytest.raises(DartError, match="counts must be one of correct, samples"):
        Strategy("x", STRATEGIES["uniform"].targets, ("k_u",), "rows", "x", "x", "strategy.md.j2",
                 "X")  # fmt: skip
    with pytest.raises(DartError, match="raw sample pool"):
        Strategy("pool", STRATEGIES["uniform"].targets, ("k_u",), "correct", "x", "x",
                 "strategy.md.j2", "X")  # fmt: skip


def _tested_names(path: Path) -> list[str]:
    """Strategy or card names compared against (`==`, `!=`, `in`) in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                for v in values:
                    if isinstance(v, ast.Constant) and v.value in NAMES:
                        found.append(f"{path.name}:{node.lineno} {v.value!r}")
    return found


def test_no_module_but_the_registry_tests_a_strategy_name() -> None:
    found = []
    for path in sorted((REPO / "dart_hf").rglob("*.py")):
        if path.name != "strategies.py":
            found += _tested_names(path)
    quoted = "|".join(sorted(NAMES))
    for path in sorted((REPO / "dataset_cards").glob("*.j2")):
        text = path.read_text(encoding="utf-8")
        found += [f"{path.name} {m.group(0)!r}"
                  for m in re.finditer(rf"[=!]=\s*[\"']({quoted})[\"']", text)]  # fmt: skip
    assert found == []


def _two_level(fail_rate: np.ndarray, *, k_p: int) -> np.ndarray:
    """A made-up strategy: k_p correct responses for queries failed more often than not, else 1."""
    fr = np.nan_to_num(np.asarray(fail_rate, dtype=np.float64), nan=1.0)
    return np.where(fr > 0.5, k_p, 1).astype(np.int64)


SETTINGS = {
    "engine": "scripted", "pool": "gsm8k,math", "limit": 8, "template": "deepseekmath",
    "temperature": 1.0, "max_tokens": 4096, "k_u": 2, "k_p": 4, "vrt_n": 4, "max_trials": 16,
    "difficulty_samples": 4, "round_cap": 6, "no_correct_min_samples": 8, "shard_size": 8,
    "num_proc": 1,
}  # fmt: skip


@pytest.mark.parametrize("counts", ["correct", "samples"])
def test_a_new_strategy_from_one_record_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counts: str
) -> None:
    record = Strategy(
        "two_level", _two_level, ("k_p",), counts, "dart-math-two-level", "two-level",
        "strategy.md.j2", "Two-level (dart-hf)", description="k_p responses for hard queries.",
    )  # fmt: skip
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
