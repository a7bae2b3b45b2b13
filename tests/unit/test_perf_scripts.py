"""Every script in perf/ imports (they are not run in CI; a stale import shows here), and
importing one runs nothing: its work sits behind `if __name__ == "__main__":`."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest
from helpers import REPO

PERF = REPO / "perf"
SCRIPTS = sorted(PERF.glob("*.py"))
SET_UP = ("sys.path.insert", "os.environ.setdefault")
"""Calls a script may make at import: they prepare, they run nothing."""


def test_there_are_scripts() -> None:
    assert len(SCRIPTS) >= 10, SCRIPTS


def _runs_at_import(node: ast.stmt) -> bool:
    """Whether a top-level statement does work on import (beyond defining names)."""
    if isinstance(node, ast.If):  # `if __name__ == "__main__":` is the one allowed block
        return ast.unparse(node.test) not in ('__name__ == "__main__"', "__name__ == '__main__'")
    if isinstance(node, ast.Expr):  # a docstring, sys.path for siblings, environment defaults
        call = node.value
        if isinstance(call, ast.Constant):
            return False
        return not (isinstance(call, ast.Call) and ast.unparse(call.func) in SET_UP)
    return not isinstance(
        node,
        (
            ast.Import,
            ast.ImportFrom,
            ast.FunctionDef,
            ast.AsyncFunctionDef,
            ast.ClassDef,
            ast.Assign,
            ast.AnnAssign,
        ),
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_imports_and_runs_nothing(
    script: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = ast.parse(script.read_text(encoding="utf-8"))
    doing = [ast.unparse(n).splitlines()[0] for n in tree.body if _runs_at_import(n)]
    assert not doing, f"{script.name} runs at import: {doing}"
    monkeypatch.syspath_prepend(str(PERF))  # scripts import their siblings by name
    monkeypatch.setattr(sys, "argv", [str(script), "--this-flag-is-not-known"])
    spec = importlib.util.spec_from_file_location(f"_imported_{script.stem}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)  # under another name than __main__: defines, runs nothing
    assert module.__doc__, f"{script.name} has no docstring saying what it measures"
    out = capsys.readouterr()
    assert out.out == "" and "usage:" not in out.err, (script.name, out)
