"""Plots: PNG files for every figure, from full and from sparse stats."""

from __future__ import annotations

from pathlib import Path

import pytest

from dart_hf import plots
from dart_hf.errors import DartError

STATS = {
    "fail_rate": {
        "phase_samples": 8,
        "histogram": {"edges": [0, 0.25, 0.5, 0.75, 1], "counts": [4, 3, 2, 1]},
    },
    "strategies": {
        name: {
            "per_level": [
                {
                    "level": lv,
                    "queries": 3,
                    "mean_responses": m * (lv + 1),
                    "coverage": 1 - lv / 10,
                    "share_at_target": 0.5,
                }
                for lv in range(6)
            ]
        }
        for name, m in (("uniform", 1.0), ("prop2diff", 2.0), ("vrt", 0.5))
    },
}


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_plots_draws_every_figure(tmp_path: Path) -> None:
    paths = plots.write_plots(STATS, tmp_path)
    assert paths == {
        "responses": "images/responses_per_level.png",
        "coverage": "images/coverage_per_level.png",
        "fail_rate": "images/fail_rate_histogram.png",
    }
    for rel in paths.values():
        assert _is_png(tmp_path / rel)
        assert (tmp_path / rel).stat().st_size > 5000


def test_plots_from_sparse_stats(tmp_path: Path) -> None:
    sparse = {"strategies": {"uniform": {"per_level": [{"level": None, "mean_responses": 1.0}]}}}
    for rel in plots.write_plots(sparse, tmp_path).values():
        assert _is_png(tmp_path / rel)
    for rel in plots.write_plots({}, tmp_path / "empty").values():
        assert _is_png(tmp_path / "empty" / rel)


def test_bad_histogram_is_a_dart_error(tmp_path: Path) -> None:
    bad = {"fail_rate": {"histogram": {"edges": [0, 1], "counts": [1, 2]}}}
    with pytest.raises(DartError, match="fail_rate.histogram: 2 edges for 2 counts"):
        plots.plot_fail_rate_histogram(bad, tmp_path / "x.png")


def test_level_labels() -> None:
    assert [plots.level_label(lv) for lv in (0, 1, 5, None)] == ["L0 (GSM8K)", "L1", "L5", "n/a"]
