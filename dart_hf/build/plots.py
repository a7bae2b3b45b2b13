"""PNG plots for dataset cards, drawn from a build's `BuildStats` (matplotlib Agg, no pyplot
state).

Three figures: correct responses per query by level for every built strategy (beside the
paper's released figures), coverage by level (beside MetaMathQA), and the fail-rate histogram.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dart_hf.build.stats import BuildStats, StrategyStats
from dart_hf.errors import DartError
from dart_hf.hub.images import IMAGES_DIR, level_label, new_figure, save_figure
from dart_hf.strategies import STRATEGIES

if TYPE_CHECKING:
    pass


def paper_mean_responses() -> dict[str, list[float]]:
    """Mean correct responses per query in the paper's released sets, GSM8K (L0) then MATH
    L1-L5, by legend label (from `strategies.STRATEGIES`)."""
    return {
        f"{s.paper_name} (paper)": list(s.paper_mean_responses)
        for s in STRATEGIES.values()
        if s.paper_name and s.paper_mean_responses
    }


PAPER_MEAN_RESPONSES = paper_mean_responses()
"""The registered strategies' paper figures (as at import)."""
METAMATHQA_COVERAGE: list[float] = [98.1, 93.6, 86.7, 76.6, 48.9]
"""MetaMathQA coverage (%) of MATH train queries, levels 1-5."""
PLOT_FILES = {
    "responses": "responses_per_level.png",
    "coverage": "coverage_per_level.png",
    "fail_rate": "fail_rate_histogram.png",
}


def _levels(stats: BuildStats) -> list[int | None]:
    seen = {row.level for strat in stats.strategies.values() for row in strat.per_level}
    return sorted(seen, key=lambda lv: (lv is None, lv if lv is not None else 0))


def _by_level(strat: StrategyStats, key: str) -> dict[int | None, float]:
    return {row.level: float(getattr(row, key)) for row in strat.per_level}


def plot_responses_per_level(stats: BuildStats, path: Path) -> Path:
    """Mean kept responses per query by level: this build's strategies beside the paper's.

    Two panels, because a small build's counts would vanish on the paper's scale.
    """
    levels = _levels(stats)
    strategies = stats.strategies
    fig = new_figure(figsize=(9, 3.6))
    ax, ref = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    x = list(range(len(levels)))
    width = 0.8 / max(len(strategies), 1)
    for i, (name, strat) in enumerate(strategies.items()):
        means = _by_level(strat, "mean_responses")
        xs = [v - 0.4 + width * (i + 0.5) for v in x]
        ax.bar(xs, [means.get(lv, 0.0) for lv in levels], width, label=name)
    ax.set_xticks(x, [level_label(lv) for lv in levels])
    ax.set_ylabel("correct responses per query")
    ax.set_title("This build")
    if strategies:
        ax.legend(fontsize=7)
    paper_x = list(range(6))
    for i, (label, values) in enumerate(paper_mean_responses().items()):
        ref.bar([v - 0.4 + 0.4 * (i + 0.5) for v in paper_x], values, 0.4, label=label)
    ref.set_xticks(paper_x, [level_label(lv) for lv in range(6)], fontsize=7)
    ref.set_title("Released sets (paper)")
    ref.legend(fontsize=7)
    fig.suptitle("Responses per query by level")
    return save_figure(fig, path)


def plot_coverage(stats: BuildStats, path: Path) -> Path:
    """Coverage (% of queries with at least one kept response) by level; MetaMathQA as dots."""
    levels = _levels(stats)
    fig = new_figure(figsize=(7, 3.6))
    ax = fig.add_subplot()
    x = list(range(len(levels)))
    for name, strat in stats.strategies.items():
        cov = _by_level(strat, "coverage")
        ax.plot(x, [100 * cov.get(lv, 0.0) for lv in levels], marker=".", label=name)
    pts = [(i, METAMATHQA_COVERAGE[lv - 1]) for i, lv in enumerate(levels) if lv and 1 <= lv <= 5]
    if pts:
        ax.plot(*zip(*pts, strict=True), "x", color="black", label="MetaMathQA (paper)")
    ax.set_xticks(x, [level_label(lv) for lv in levels])
    ax.set_ylim(0, 105)
    ax.set_ylabel("coverage (%)")
    ax.set_title("Queries with at least one response, by level")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_fail_rate_histogram(stats: BuildStats, path: Path) -> Path:
    """Histogram of per-query fail rates from `stats.fail_rate`."""
    edges, counts = list(stats.fail_rate.edges), list(stats.fail_rate.counts)
    if edges and len(edges) != len(counts) + 1:
        raise DartError(
            f"stats fail_rate.histogram: {len(edges)} edges for {len(counts)} counts "
            "(need one more edge than counts)"
        )
    fig = new_figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    if counts:
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", edgecolor="black")
    n = stats.fail_rate.phase_samples
    ax.set_xlabel("fail rate" + (f" (estimated from {n} samples per query)" if n else ""))
    ax.set_ylabel("queries")
    ax.set_title("Difficulty of the query pool")
    return save_figure(fig, path)


def write_plots(stats: BuildStats, folder: Path) -> dict[str, str]:
    """Draw every plot into `folder/images/`.

    Returns:
        Plot key -> path relative to `folder` (for embedding in the card).
    """
    folder = Path(folder)
    drawers = {
        "responses": plot_responses_per_level,
        "coverage": plot_coverage,
        "fail_rate": plot_fail_rate_histogram,
    }
    out = {}
    for key, draw in drawers.items():
        rel = f"{IMAGES_DIR}/{PLOT_FILES[key]}"
        draw(stats, folder / rel)
        out[key] = rel
    return out
