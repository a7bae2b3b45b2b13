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


def test_every_module_has_a_test_file_or_is_listed() -> None:
    listed = set(re.findall(r"`(\w+)\.py`", _elsewhere()))
    missing = []
    for module in sorted((REPO / "dart_hf").glob("*.py")):
        name = module.stem
        if name in listed:
            continue
        if not any((TESTS / layer / f"test_{name}.py").is_file() for layer in LAYERS):
            missing.append(module.name)
    assert not missing, f"no tests/<layer>/test_<m>.py and not in DESIGN.md's list: {missing}"
    stale = [m for m in listed if not (REPO / "dart_hf" / f"{m}.py").is_file()]
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
