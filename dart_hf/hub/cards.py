"""Dataset and model cards: templates from `dataset_cards/` rendered with jinja2 (undefined
variables are errors), the filters they use, and `save_card`, which writes README.md with its
YAML merged (what `write_hub_folder` put there stays)."""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from dart_hf.errors import DartError, unknown_name
from dart_hf.hub import folder as hub

TEMPLATE_DIR = "dataset_cards"
SECRET_KEY = re.compile(r"(^|_)(token|secret|password|api_?key|credentials?)$|^authorization$", re.I)
SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
]


# --------------------------------------------------------------------------- templates


def template_dirs() -> list[Path]:
    """Where templates are looked up: the installed package, then the repo's top level."""
    out = []
    try:
        packaged = resources.files("dart_hf") / TEMPLATE_DIR
        if isinstance(packaged, Path) and packaged.is_dir():
            out.append(packaged)
    except (ModuleNotFoundError, TypeError):
        pass
    repo = Path(__file__).resolve().parents[2] / TEMPLATE_DIR
    if repo.is_dir():
        out.append(repo)
    return out


def _environment() -> jinja2.Environment:
    dirs = template_dirs()
    if not dirs:
        raise DartError(f"no {TEMPLATE_DIR}/ folder found beside or inside the dart_hf package")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(
        pct=fmt_pct, f2=fmt_f2, num=fmt_num, yaml=_yaml_block, kv=fmt_kv, duration=fmt_duration
    )
    return env


def render_template(name: str, context: dict[str, Any]) -> str:
    """Render `dataset_cards/<name>` with `context` (undefined variables are errors).

    Filters available to templates: `pct` (0.953 -> "95.3%"), `f2` (two decimals), `num`
    (thousands separators), `yaml` (a block of YAML), `kv` (a mapping as `k = v, ...`),
    `duration` (seconds as "1 h 02 min" / "77.5 s").
    """
    env = _environment()
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        names = [p.name for d in template_dirs() for p in d.glob("*.md.j2")]
        raise unknown_name("card template", name, sorted(set(names))) from None
    except jinja2.UndefinedError as exc:
        raise DartError(f"card template {name}: {exc.message}") from None


def fmt_pct(value: float | None) -> str:
    """A share in [0, 1] as a percentage with one decimal ("n/a" for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * float(value):.1f}%"


def fmt_f2(value: float | None) -> str:
    """A number with two decimals ("n/a" for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.2f}"


def fmt_num(value: float | int | None) -> str:
    """An integer with thousands separators; other numbers with up to 1 decimal."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def fmt_kv(value: Any) -> str:
    """A mapping as `k = v, ...`; a list joined by commas; anything else as text."""
    if isinstance(value, dict):
        return ", ".join(f"{k} = {fmt_kv(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt_kv(v) for v in value)
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    """Seconds as "77.5 s", "12.3 min" or "5 h 07 min"."""
    if seconds is None:
        return "n/a"
    s = float(seconds)
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _yaml_block(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()


# --------------------------------------------------------------------------- context


def size_category(rows: int) -> str:
    """The Hub's `size_categories` label for a row count."""
    for limit, label in SIZE_CATEGORIES:
        if rows < limit:
            return label
    return "n>1T"


def scrub_secrets(value: Any) -> Any:
    """Drop mapping keys that look like credentials (recursively) before they reach a card."""
    if isinstance(value, dict):
        return {k: scrub_secrets(v) for k, v in value.items() if not SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [scrub_secrets(v) for v in value]
    return value


# --------------------------------------------------------------------------- writing


def save_card(folder: Path, body: str, **metadata: Any) -> DatasetCard:
    """Write README.md = merged YAML + `body`, keeping `configs`/`dataset_info` already there.

    Keys in `metadata` (license, tags, ...) replace the existing ones; keys not given stay.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existing = hub.read_card(folder)
    data = existing.data.to_dict() if existing is not None else {}
    data.update({k: v for k, v in metadata.items() if v is not None})
    card_data = DatasetCardData(**data)
    card = DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n{body.lstrip()}")
    tmp = folder / (hub.README + ".tmp")
    tmp.write_text(str(card), encoding="utf-8")
    tmp.replace(folder / hub.README)
    return card
