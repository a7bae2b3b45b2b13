"""Copy the cards and plots of a build's releases into docs/examples/ (no data files).

Usage (after `dart-hf build -o BUILD_DIR`, the default `embedded` recipe):

    .venv/bin/python docs/examples/update_examples.py BUILD_DIR

Each `BUILD_DIR/releases/<name>/` gives `docs/examples/<name>/README.md` and its `images/`,
re-rendered from the build's `stats.json` with the templates of this checkout (the YAML the
build staged is kept); `stats.json` and `recipe.yaml` are copied too, so a reader sees what a
release looks like without downloading anything.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dart_hf.build import cards

HERE = Path(__file__).resolve().parent
KINDS = {"dart-math-uniform": "uniform", "dart-math-hard": "hard", "vrt": "vrt"}


def update(build_dir: Path, dest: Path = HERE) -> list[Path]:
    """Copy README.md + images/ of every release, and the build's stats/recipe, into `dest`."""
    releases = sorted(p for p in (build_dir / "releases").glob("*") if (p / "README.md").is_file())
    if not releases:
        raise SystemExit(f"{build_dir}: no releases/<name>/README.md found")
    stats = json.loads((build_dir / "stats.json").read_text(encoding="utf-8"))
    written = []
    for folder in releases:
        out = dest / folder.name
        if out.exists():
            shutil.rmtree(out)
        (out / "images").mkdir(parents=True)
        shutil.copy2(folder / "README.md", out / "README.md")
        kind = KINDS.get(folder.name, "pool")
        strategy = None if kind != "pool" else next(iter(stats["strategies"]))
        cards.write_card(out, kind, stats, strategy=strategy)
        written.append(out)
    for name in ("stats.json", "recipe.yaml"):
        if (build_dir / name).is_file():
            shutil.copy2(build_dir / name, dest / name)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for path in update(Path(sys.argv[1])):
        print(path)
