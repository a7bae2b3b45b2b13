"""The layout of tests/ that docs/DESIGN.md (Tests) describes: every module has a test file in
a layer folder, or is named in the list of modules tested elsewhere, and every file that list
names exists; test file names are unique across tests/ and no folder is a package."""

from __future__ import annotations

import re
from collections import Counter

from helpers import REPO

TESTS = REPO / "tests"
LAYERS = ("unit", "e2e", "integration", "gpu")


def _elsewhere() -> str:
    design = (REPO / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    found = re.search(r"^Modules whose tests live in another file, on purpose: (.*)$", design, re.M)
    assert found, "docs/DESIGN.md (Tests) lost its list of modules tested elsewhere"
    return found.group(1)


SUFFIXES = ("", "_unit", "_e2e", "_integration")


def _modules() -> list[str]:
    """The package's modules as DESIGN.md names them: `cli.py` at the top, `grading/grade.py`
    in a stage package (the engines' and the metric's own folders are left to their tests)."""
    top = [m.name for m in (REPO / "dart_hf").glob("*.py")]
    nested = [
        m.relative_to(REPO / "dart_hf").as_posix()
        for m in (REPO / "dart_hf").glob("*/*.py")
        if m.name != "__init__.py" and m.parent.name not in ("engines", "metric")
    ]
    return sorted(top + nested)


def _test_files(module: str) -> list[str]:
    """The test file names that count as `module`'s: test_<m>.py, and in a package also
    test_<package>_<m>.py, each with or without a layer suffix."""
    path = module.removesuffix(".py").split("/")
    stems = [path[-1]] + (["_".join(path)] if len(path) > 1 else [])
    return [f"test_{stem}{suffix}.py" for stem in stems for suffix in SUFFIXES]


def test_every_module_has_a_test_file_or_is_listed() -> None:
    listed = set(re.findall(r"`([\w/]+\.py)`", _elsewhere()))
    missing = []
    for module in _modules():
        if module in listed:
            continue
        names = _test_files(module)
        if not any((TESTS / layer / name).is_file() for layer in LAYERS for name in names):
            missing.append(module)
    assert not missing, f"no tests/<layer>/test_<m>.py and not in DESIGN.md's list: {missing}"
    stale = [m for m in listed if not m.startswith("tests/") and m not in _modules()]
    assert not stale, f"DESIGN.md lists modules that do not exist: {stale}"


def test_the_listed_test_files_exist() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)`", _elsewhere())
    assert named
    assert [f for f in named if not (REPO / f).is_file()] == []


def test_test_files_are_in_layers_with_unique_names() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    outside = [f for f in files if f.relative_to(TESTS).parts[0] not in LAYERS]
    assert not outside, outside
    twice = [name for name, n in Counter(f.name for f in files).items() if n > 1]
    assert not twice, f"test file names must be unique across tests/: {twice}"
    assert not list(TESTS.rglob("__init__.py")), "tests/ holds no packages (basenames import)"
