"""Frozen, self-validating configuration dataclasses and YAML recipes.

Config flows one way: YAML recipe -> CLI overrides -> frozen dataclasses -> `fn_kwargs`
of the stages (so datasets' fingerprints see it) -> the dataset card.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dart_hf.errors import DartError, unknown_name


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled for each query.

    Attributes:
        n: Completions per query per call.
        temperature: Sampling temperature; 0 means greedy.
        top_p: Nucleus sampling mass.
        max_tokens: Maximum new tokens; a completion cut here counts as wrong.
        template: Prompt template name (see `dart_hf.prompts.TEMPLATES`).
        n_shots: Few-shot exemplars for templates that use them.
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    template: str = "chat"
    n_shots: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise DartError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise DartError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise DartError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise DartError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n_shots < 0:
            raise DartError(f"n_shots must be >= 0, got {self.n_shots}")


@dataclass(frozen=True)
class GradeConfig:
    """How responses are graded.

    Attributes:
        timeout_s: Hard wall-clock limit per item; a worker past it is killed and replaced.
        num_proc: Worker processes of the grading pool.
        benchmark: Force per-benchmark gold handling; None reads the row's `source`.
    """

    timeout_s: float = 5.0
    num_proc: int = 1
    benchmark: str | None = None

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise DartError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.num_proc < 1:
            raise DartError(f"num_proc must be >= 1, got {self.num_proc}")


RECIPE_DIR = "recipes"


def recipe_names() -> list[str]:
    """Names of the recipes shipped with the package."""
    folder = resources.files("dart_hf") / RECIPE_DIR
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str | None) -> dict[str, Any]:
    """Load a recipe by shipped name ("paper", "embedded", "ci") or YAML path.

    Returns an empty dict for None. Raises DartError naming the file on bad YAML.
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
    return data


def merge(recipe: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overlay CLI overrides (None means "not given") on a recipe."""
    out = dict(recipe)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


def build_dataclass(cls: type, settings: dict[str, Any], where: str = "recipe") -> Any:
    """Build a frozen dataclass from the settings it knows, ignoring the others.

    Unknown keys are left for other dataclasses; wrong types surface as DartError.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in settings.items() if k in names}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise DartError(f"{where}: {exc}") from None
