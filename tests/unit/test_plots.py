"""Plots: every figure decodes as an image of its size, draws the numbers of the stats it is
given (read back from the matplotlib figure), and its pixels change with them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from dart_hf.build import plots, stats
from dart_hf.errors import DartError
from dart_hf.evaluation import plots as eval_plots
from dart_hf.hub import images

BASE = stats.load_stats(Path(__file__).parents[1] / "data" / "stats-example.json")


def _row(level: int | None, mean: float, coverage: float = 0.0) -> stats.LevelRow:
    return stats.LevelRow(
        level=level,
        queries=3,
        mean_responses=mean,
        coverage=coverage,
        share_at_target=0.5,
        no_correct=0,
        below_target=0,
        budget_short=0,
    )


def _stats(
    rows: dict[str, list[stats.LevelRow]],
    edges: list[float] | None = None,
    counts: list[int] | None = None,
    phase_samples: int | None = None,
) -> stats.BuildStats:
    """A build's statistics with these per-level rows and this fail-rate histogram."""
    strategies = {
        name: stats.StrategyStats(params={}, rows=0, filters={}, decontaminated_queries=0, per_level=tuple(r))
        for name, r in rows.items()
    }
    hist = stats.FailRate(phase_samples, None, tuple(edges or ()), tuple(counts or ()))
    return replace(BASE, strategies=strategies, fail_rate=hist)


STATS = _stats(
    {
        name: [_row(lv, m * (lv + 1), 1 - lv / 10) for lv in range(6)]
        for name, m in (("uniform", 1.0), ("prop2diff", 2.0), ("vrt", 0.5))
    },
    edges=[0, 0.25, 0.5, 0.75, 1],
    counts=[4, 3, 2, 1],
    phase_samples=8,
)


LEVEL_LABELS = ["L0 (GSM8K)", "L1", "L2", "L3", "L4", "L5"]


def _image(path: Path) -> np.ndarray:
    """The decoded PNG (PIL refuses anything that is not a whole image)."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return np.asarray(img.convert("RGB"))


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, Figure]:
    """The matplotlib figure behind each PNG written, by file name."""
    drawn: dict[str, Figure] = {}
    save = images.save_figure

    def keep(fig: Figure, path: Path) -> Path:
        drawn[path.name] = fig
        return save(fig, path)

    # looked up where each plot is drawn: the build's plots and the evaluation's
    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(eval_plots, "save_figure", keep)
    return drawn


def _bar_heights(ax: Any) -> list[float]:
    return [round(p.get_height(), 6) for p in ax.patches]


def test_write_plots_draws_every_figure(tmp_path: Path) -> None:
    paths = plots.write_plots(STATS, tmp_path)
    assert paths == {
        "responses": "images/responses_per_level.png",
        "coverage": "images/coverage_per_level.png",
        "fail_rate": "images/fail_rate_histogram.png",
    }
    # figsize x 110 dpi, trimmed to the drawing: 9 x 3.6, 7 x 3.6 and 7 x 3.2 inches
    for key, (width_in, height_in) in {
        "responses": (9, 3.6),
        "coverage": (7, 3.6),
        "fail_rate": (7, 3.2),
    }.items():
        h, w, _ = _image(tmp_path / paths[key]).shape
        assert 0.8 * width_in * 110 < w <= 1.05 * width_in * 110, (key, w)
        assert 0.8 * height_in * 110 < h <= 1.05 * height_in * 110, (key, h)


def test_responses_figure_draws_each_strategys_means(tmp_path: Path, figures: dict[str, Figure]) -> None:
    plots.write_plots(STATS, tmp_path)
    fig = figures["responses_per_level.png"]
    ours, paper = fig.axes
    assert fig.get_suptitle() == "Responses per query by level"
    assert (ours.get_title(), ours.get_ylabel()) == ("This build", "correct responses per query")
    assert [t.get_text() for t in ours.get_xticklabels()] == LEVEL_LABELS
    # one bar per level per strategy, in the stats' order: mean_responses = m * (level + 1)
    want = [round(m * (lv + 1), 6) for m in (1.0, 2.0, 0.5) for lv in range(6)]
    assert _bar_heights(ours) == want
    assert [t.get_text() for t in ours.get_legend().get_texts()] == ["uniform", "prop2diff", "vrt"]
    assert paper.get_title() == "Released sets (paper)"
    assert _bar_heights(paper) == [v for vs in plots.PAPER_MEAN_RESPONSES.values() for v in vs]


def test_coverage_figure_draws_percentages_beside_metamathqa(
    tmp_path: Path, figures: dict[str, Figure]
) -> None:
    plots.write_plots(STATS, tmp_path)
    (ax,) = figures["coverage_per_level.png"].axes
    assert ax.get_ylabel() == "coverage (%)" and ax.get_ylim() == (0, 105)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines) == ["uniform", "prop2diff", "vrt", "MetaMathQA (paper)"]
    for name in ("uniform", "prop2diff", "vrt"):  # coverage 1 - level / 10, in percent
        assert lines[name].get_ydata().tolist() == pytest.approx([100 - 10 * lv for lv in range(6)])
    meta = lines["MetaMathQA (paper)"]
    assert list(meta.get_xdata()) == [1, 2, 3, 4, 5]  # MATH levels only, not GSM8K's L0
    assert list(meta.get_ydata()) == plots.METAMATHQA_COVERAGE


def test_fail_rate_figure_draws_the_histogram(tmp_path: Path, figures: dict[str, Figure]) -> None:
    plots.write_plots(STATS, tmp_path)
    (ax,) = figures["fail_rate_histogram.png"].axes
    assert _bar_heights(ax) == [4, 3, 2, 1]
    assert [round(p.get_x(), 6) for p in ax.patches] == [0, 0.25, 0.5, 0.75]
    assert [round(p.get_width(), 6) for p in ax.patches] == [0.25] * 4
    assert ax.get_xlabel() == "fail rate (estimated from 8 samples per query)"
    assert (ax.get_ylabel(), ax.get_title()) == ("queries", "Difficulty of the query pool")


def test_pixels_follow_the_stats(tmp_path: Path) -> None:
    def draw(counts: list[int], name: str) -> np.ndarray:
        drawn = _stats({}, edges=[0, 0.25, 0.5, 0.75, 1], counts=counts)
        return _image(plots.plot_fail_rate_histogram(drawn, tmp_path / name))

    first, again, other = (
        draw([4, 3, 2, 1], "a.png"),
        draw([4, 3, 2, 1], "b.png"),
        draw([1, 2, 3, 4], "c.png"),
    )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()  # no timestamp
    assert np.array_equal(first, again)
    assert first.shape == other.shape and not np.array_equal(first, other)
    assert (first.reshape(-1, 3) != 255).any(axis=1).mean() > 0.02  # something is drawn


def test_plots_from_sparse_stats(tmp_path: Path, figures: dict[str, Figure]) -> None:
    sparse = _stats({"uniform": [_row(None, 1.0)]})
    for rel in plots.write_plots(sparse, tmp_path).values():
        assert _image(tmp_path / rel).size
    ours = figures["responses_per_level.png"].axes[0]
    assert [t.get_text() for t in ours.get_xticklabels()] == ["n/a"]
    assert _bar_heights(ours) == [1.0]
    assert len(figures["fail_rate_histogram.png"].axes[0].patches) == 0  # no histogram, no bars
    assert figures["fail_rate_histogram.png"].axes[0].get_xlabel() == "fail rate"
    for rel in plots.write_plots(_stats({}), tmp_path / "empty").values():
        assert _image(tmp_path / "empty" / rel).size


def test_eval_accuracy_figure(tmp_path: Path, figures: dict[str, Figure]) -> None:
    results = {
        "benchmarks": {
            "math": {
                "accuracy": 40.0,
                "reported": 45.0,
                "label": "MATH",
                "by_level": {1: {"accuracy": 80.0}, 5: {"accuracy": 10.0}},
            },
            "gsm8k": {"accuracy": 70.0, "label": "GSM8K"},
            "theoremqa": {"accuracy": None},
        }
    }
    path = eval_plots.plot_eval_accuracy(results, tmp_path / "acc.png")
    assert path == tmp_path / "acc.png" and _image(path).size
    bench, level = figures["acc.png"].axes
    assert _bar_heights(bench) == [40.0, 70.0, 45.0, 0.0]  # this run, then the paper's
    assert [t.get_text() for t in bench.get_xticklabels()] == ["MATH", "GSM8K"]
    assert (level.get_title(), _bar_heights(level)) == ("MATH by level", [80.0, 10.0])
    assert eval_plots.plot_eval_accuracy({"benchmarks": {"x": {"accuracy": None}}}, tmp_path) is None


def test_bad_histogram_is_a_dart_error(tmp_path: Path) -> None:
    bad = _stats({}, edges=[0, 1], counts=[1, 2])
    with pytest.raises(DartError, match="fail_rate.histogram: 2 edges for 2 counts"):
        plots.plot_fail_rate_histogram(bad, tmp_path / "x.png")


def test_level_labels() -> None:
    assert [images.level_label(lv) for lv in (0, 1, 5, None)] == ["L0 (GSM8K)", "L1", "L5", "n/a"]
