"""recipe.py: shipped recipes by name, recipe files, and the keys no command reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dart_hf import recipe
from dart_hf.errors import DartError

REPO = Path(__file__).resolve().parents[2]


def test_recipe_names_are_the_shipped_yaml_files() -> None:
    shipped = sorted(p.stem for p in (REPO / "dart_hf" / "recipes").glob("*.yaml"))
    assert recipe.recipe_names() == shipped
    assert {"paper", "embedded", "ci"} <= set(shipped)


def test_every_shipped_recipe_loads_as_a_mapping() -> None:
    for name in recipe.recipe_names():
        assert isinstance(recipe.load_recipe(name), dict), name


def test_none_is_the_empty_recipe() -> None:
    assert recipe.load_recipe(None) == {}


def test_a_file_is_read_as_is(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("k_u: 7\nbuild:\n  max_trials: 9\ndescription: mine\n", encoding="utf-8")
    assert recipe.load_recipe(str(path)) == {"k_u": 7, "build": {"max_trials": 9}, "description": "mine"}
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")  # issue 27.12: it ran every
    with pytest.raises(DartError, match="empty.yaml: the recipe holds no settings"):  # default
        recipe.load_recipe(str(tmp_path / "empty.yaml"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k_u: [1", "not valid YAML"),
        ("- 1\n- 2\n", "a recipe must be a mapping of settings"),
        ("k_uu: 3\n", "k_uu"),
        ("build: 3\n", "`build` must be a mapping of settings"),
        ("train:\n  k_u: 3\n", "`train:`"),
    ],
)
def test_bad_recipe_files_are_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DartError, match=message) as err:
        recipe.load_recipe(str(path))
    assert str(path) in str(err.value)


def test_an_unknown_key_names_the_nearest_valid_one(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("max_trial: 5\n", encoding="utf-8")
    with pytest.raises(DartError, match="max_trials"):
        recipe.load_recipe(str(path))


def test_unknown_names_and_missing_files() -> None:
    with pytest.raises(DartError, match="unknown recipe 'papr'; valid: .*paper"):
        recipe.load_recipe("papr")
    with pytest.raises(DartError, match="recipe file not found"):
        recipe.load_recipe("/nonexistent/recipe.yaml")


def test_a_key_is_valid_when_some_command_reads_it() -> None:
    keys = recipe.recipe_keys()
    assert {"k_u", "max_trials", "benchmarks", "lr", "build", "eval", "train"} <= keys
    assert "k_u" in recipe.section_keys("build") and "lr" not in recipe.section_keys("build")
    assert "lr" in recipe.section_keys("train") and "k_u" not in recipe.section_keys("train")
    recipe.check_recipe_keys({"k_u": 1, "lr": 1e-5, "eval": {"benchmarks": ["math"]}})
    with pytest.raises(DartError, match="`eval:`"):
        recipe.check_recipe_keys({"eval": {"k_u": 1}})
