"""strategies.py: one record per strategy, and nothing else that knows a strategy by name.

A new strategy is one `Strategy` record: registered here (monkeypatch), it is accepted by the
settings, gets its targets in the DARS state, its release, its statistics and its card from a
scripted build, without any other change.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from dart_hf.config import DarsConfig
from dart_hf.errors import DartError
from dart_hf.strategies import STRATEGIES, Strategy

REPO = Path(__file__).resolve().parents[2]
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
        "k_p": 8,
        "normalize_fail_rate": False,
        "max_trials": cfg.max_trials,
        "budget": None,
    }


def test_a_record_is_checked() -> None:
    with pytest.raises(DartError, match="counts must be one of correct, samples"):
        Strategy("x", STRATEGIES["uniform"].targets, ("k_u",), "rows", "x", "x", "strategy.md.j2", "X")
    with pytest.raises(DartError, match="raw sample pool"):
        Strategy("pool", STRATEGIES["uniform"].targets, ("k_u",), "correct", "x", "x", "strategy.md.j2", "X")


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
        found += [f"{path.name} {m.group(0)!r}" for m in re.finditer(rf"[=!]=\s*[\"']({quoted})[\"']", text)]
    assert found == []
