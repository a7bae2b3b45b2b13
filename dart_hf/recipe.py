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

from dart_hf import config
from dart_hf.config import check_value, unknown_keys_error
from dart_hf.errors import DartError, unknown_name
from dart_hf.training.train import TrainConfig

RECIPE_DIR = "recipes"


def _build_keys() -> frozenset[str]:
    from dart_hf.build.run import SETTING_NAMES  # lazy: imports datasets

    return SETTING_NAMES


def _eval_keys() -> frozenset[str]:
    from dart_hf.evaluation.run import SETTING_NAMES  # lazy: imports datasets

    return SETTING_NAMES


def _train_keys() -> frozenset[str]:
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


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # `<<: *base`: keys given beside it override the merged ones
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.setdefault(key, line)
        except TypeError:  # an unhashable key: construct_mapping says so
            continue
        if first != line:
            raise _DuplicateKey(key, line, first)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text as Python values, refusing duplicate keys (one line naming `where`).

    Raises:
        DartError: Not valid YAML, or a key given twice in one mapping.
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as dup:
        raise DartError(
            f"{where} line {dup.line}: key {dup.key!r} is given twice (first on line "
            f"{dup.first}); YAML would keep only the last: keep one"
        ) from None
    except yaml.YAMLError as exc:
        raise DartError(f"{where}: not valid YAML: {exc}") from None


def _read_text(path: Path) -> str:
    """A recipe file's text; bytes that are not UTF-8 are a one-line error naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        text = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace").strip()
        raise DartError(
            f"{path} line {line}: bytes that are not UTF-8 "
            f"({data[exc.start : exc.end]!r} in {text[:80]!r}); save the recipe as UTF-8"
        ) from None


def load_recipe(name_or_path: str | None) -> dict[str, Any]:
    """Load a recipe by shipped name ("paper", "embedded", "ci") or YAML path.

    Returns an empty dict for None. Raises DartError naming the file on bad YAML (also a key
    given twice, or bytes that are not UTF-8), on a file without settings (an empty recipe
    would silently run every default), on keys that no command reads (`check_recipe_keys`)
    and on values of the wrong type or out of range (`check_recipe_values`).
    """
    if name_or_path is None:
        return {}
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise DartError(f"recipe file not found: {path}")
        text = _read_text(path)
        where = str(path)
    else:
        if name_or_path not in recipe_names():
            raise unknown_name("recipe", name_or_path, recipe_names())
        res = resources.files("dart_hf") / RECIPE_DIR / f"{name_or_path}.yaml"
        text = res.read_text(encoding="utf-8")
        where = f"recipe {name_or_path!r}"
    data = parse_yaml(text, where)
    if data is None or data == {}:
        raise DartError(
            f"{where}: the recipe holds no settings; write some, or leave --config out to "
            "use the default recipe"
        )
    if not isinstance(data, dict):
        raise DartError(f"{where}: a recipe must be a mapping of settings")
    check_recipe_keys(data, where)
    check_recipe_values(data, where)
    return data


def _setting_types() -> dict[str, dict[str, list[Any]]]:
    """Each section's setting names -> the types their dataclass fields declare."""
    import typing

    from dart_hf.evaluation.run import EvalConfig  # lazy: imports datasets

    classes = {
        "build": (config.SamplingConfig, config.GradeConfig, config.DarsConfig, config.BuildConfig),
        "eval": (EvalConfig, config.BuildConfig),
        "train": (TrainConfig,),
    }
    out: dict[str, dict[str, list[Any]]] = {}
    for section, group in classes.items():
        names = section_keys(section)
        types: dict[str, list[Any]] = {}
        for cls in group:
            for name, hint in typing.get_type_hints(cls).items():
                if name in names and hint not in types.setdefault(name, []):
                    types[name].append(hint)
        out[section] = types
    return out


def check_recipe_values(recipe: dict[str, Any], where: str = "recipe") -> None:
    """Check each value's type (and the whole-number bounds of `config.INT_RANGES`) now, so a
    bad value is one line naming the file and the key, not a traceback later.

    A top-level key passes when it suits some command that reads it; a section's key must suit
    that command. Ranges the dataclasses check (`k_u >= 1`) are left to them.

    Raises:
        DartError: "<file>: <key> must be ..." ("<file> `build:`: ..." inside a section).
    """
    types = _setting_types()

    def check(name: str, value: Any, hints: list[Any], place: str) -> None:
        if value is None or not hints:
            return
        errors = []
        for hint in hints:
            try:
                check_value(name, value, hint, place)
                return
            except DartError as exc:
                errors.append(exc)
        raise errors[0]

    for key, value in recipe.items():
        if key in SECTIONS or key in OTHER_KEYS:
            continue
        hints = [h for section in SECTIONS for h in types[section].get(key, [])]
        check(key, value, hints, where)
    for section in SECTIONS:
        body = recipe.get(section)
        if isinstance(body, dict):
            for key, value in body.items():
                check(key, value, types[section].get(key, []), f"{where} `{section}:`")


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
