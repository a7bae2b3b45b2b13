"""The evaluation card's plot: accuracy per benchmark, and per MATH level where there is one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dart_hf.hub.images import new_figure, save_figure

if TYPE_CHECKING:
    pass


EVAL_PLOT = "accuracy.png"


def plot_eval_accuracy(results: dict[str, Any], path: Path) -> Path | None:
    """Evaluation card figure: accuracy per benchmark (beside the paper's where known) and, when
    a benchmark reported by level (MATH, MATH500) was evaluated, accuracy by level. None when
    nothing was graded."""
    benches = [(b, e) for b, e in results.get("benchmarks", {}).items() if e.get("accuracy") is not None]
    if not benches:
        return None
    level_src = next((e for _, e in benches if e.get("by_level")), None)
    fig = new_figure(figsize=(10 if level_src else 6, 3.6))
    ax = fig.add_subplot(1, 2 if level_src else 1, 1)
    xs = range(len(benches))
    ours = [float(e["accuracy"]) for _, e in benches]
    paper = [e.get("reported") for _, e in benches]
    width = 0.4 if any(p is not None for p in paper) else 0.7
    ax.bar([x - (width / 2 if width < 0.7 else 0) for x in xs], ours, width, label="this run")
    if width < 0.7:
        ax.bar([x + width / 2 for x in xs], [p or 0.0 for p in paper], width, label="paper")
        ax.legend(fontsize=8)
    ax.set_xticks(list(xs), [e.get("label", b) for b, e in benches], rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy per benchmark")
    if level_src:
        levels = sorted(level_src["by_level"], key=str)
        lx = fig.add_subplot(1, 2, 2)
        vals = [level_src["by_level"][k].get("accuracy") or 0.0 for k in levels]
        lx.bar(range(len(levels)), vals, 0.7, color="tab:orange")
        lx.set_xticks(range(len(levels)), [f"L{k}" for k in levels])
        lx.set_ylabel("accuracy (%)")
        lx.set_title(f"{level_src.get('label', 'MATH')} by level")
    return save_figure(fig, path)
