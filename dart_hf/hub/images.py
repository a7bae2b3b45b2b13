"""Images of a card: the folder they go in (`images/`), a figure on the non-interactive
backend, and saving it as PNG (metadata-free, so equal figures are equal files)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

IMAGES_DIR = "images"


def level_label(level: int | None) -> str:
    """Axis/table label of a level: GSM8K is level 0, MATH 1-5, None when unknown."""
    if level is None:
        return "n/a"
    return "L0 (GSM8K)" if level == 0 else f"L{level}"


def new_figure(**kwargs: Any) -> Figure:
    """A matplotlib Figure; matplotlib is imported here, when a plot is drawn, so that the
    cards (and `dart-hf train`'s model card) render where it is not installed."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path
