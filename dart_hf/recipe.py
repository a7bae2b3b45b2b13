"""YAML recipes: the shipped ones by name or a file, checked against every command's settings.

A recipe is read by several commands (`build`, `sample`, `eval`, `train`), so a key is valid
when some command reads it; this module sits above those commands (it asks each for its
setting names), and `config.py` below them keeps only the dataclasses and value checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dart_hf.config import unknown_keys_error
from dart_hf.errors import DartError, unknown_name

RECIPE_DIR = "recipes"


def _build_keys() -> frozenset[str]:
    from dart_hf.build import SETTING_NAMES

    return SETTING_NAMES


def _eval_keys() -> frozenset[str]:
    from dart_hf.evaluation import SETTING_NAMES

    return SETTING_NAMES


def _train_keys() -> frozenset[str]:
    from dart_hf.training import TrainConfig

    return frozenset(f.name for f in dataclasses.fields(TrainConfig))


SECTIONS: dict[str, Callable[[], frozenset[str]]] = {
    "build": _build_keys,
    "eval": _eval_keys,
    "train": _train_keys,
}
"""The sections of a recipe and the settings each command reads (`sample` reads build's)."""
OTHER_KEYS = frozenset({"description"})
"""Keys no command reads as a setting."""


def recipe_names() -> list[str]:
    """Names of the recipes shipped with the package."""
    folder = resources.files("dart_hf") / RECIPE_DIR
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str | None) -> dict[str, Any]:
    """Load a recipe by shipped name ("paper", "embedded", "ci") or YAML path.

    Returns an empty dict for None. Raises DartError naming the file on bad YAML, and on keys
    that no command reads (`check_recipe_keys`).
    """
    if name_or_path is None:
        return {}
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise DartError(f"recipe file not found: {path}")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    else:
        if name_or_path not in recipe_names():
            raise unknown_name("recipe", name_or_path, recipe_names())
        res = resources.files("dart_hf") / RECIPE_DIR / f"{name_or_path}.yaml"
        text = res.read_text(encoding="utf-8")
        where = f"recipe {name_or_path!r}"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DartError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DartError(f"{where}: a recipe must be a mapping of settings")
    check_recipe_keys(data, where)
    return data


def section_keys(section: str) -> frozenset[str]:
    """The settings one command reads (`build`, `eval`, `train`); `sample` reads build's."""
    return SECTIONS[section]()


def recipe_keys() -> frozenset[str]:
    """Every key some command reads at a recipe's top level."""
    keys = set(OTHER_KEYS) | set(SECTIONS)
    for section in SECTIONS:
        keys |= section_keys(section)
    return frozenset(keys)


def check_recipe_keys(recipe: dict[str, Any], where: str = "recipe") -> None:
    """Refuse top-level keys that no command reads, and section keys their command does not.

    A key is valid when some command reads it (`eval --config paper` accepts `k_u`).
    """
    unknown = set(recipe) - recipe_keys()
    if unknown:
        raise unknown_keys_error(where, unknown, recipe_keys())
    for section in SECTIONS:
        body = recipe.get(section)
        if body is None:
            continue
        if not isinstance(body, dict):
            raise DartError(f"{where}: `{section}` must be a mapping of settings")
        unknown = set(body) - section_keys(section)
        if unknown:
            raise unknown_keys_error(f"{where} `{section}:`", unknown, section_keys(section))
