"""Every declared lower bound is a version CI tests: pyproject's floors, the pins in
scripts/constraints-cpu.txt (what CI installs) and the installed versions agree."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_TOOLS = {"pytest", "pytest-timeout", "ruff", "mypy", "types-pyyaml"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _floors() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    floors = {}
    for req in requirements:
        m = re.search(r"(?:>=|==)\s*([\w.]+)", req)
        if m and _name(req) not in DEV_TOOLS:
            floors[_name(req)] = m.group(1)
    return floors


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "scripts" / "constraints-cpu.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, _, pinned = line.partition("==")
            pins[_name(name)] = pinned.strip()
    return pins


def test_every_floor_is_pinned_for_ci() -> None:
    floors, pins = _floors(), _pins()
    for key in ("datasets", "huggingface-hub", "transformers", "math-verify", "evaluate"):
        assert key in floors, f"{key} has no lower bound in pyproject.toml"
    for name, floor in floors.items():
        assert pins.get(name) == floor, f"{name}: pyproject says >= {floor}, CI installs {pins.get(name)!r}"


@pytest.mark.parametrize("name", sorted(_floors()))
def test_installed_version_meets_the_floor(name: str) -> None:
    from packaging.version import Version

    try:
        installed = version(name)
    except PackageNotFoundError:
        pytest.skip(f"{name} is not installed (an extra)")
    assert Version(installed) >= Version(_floors()[name]), f"{name} {installed} < the floor"
