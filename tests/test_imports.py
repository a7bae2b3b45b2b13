"""No import cycles inside `dart_hf`, read statically from the source.

Every module is parsed with `ast`; an edge A -> B is any import of B anywhere in A: at module
level, inside a function (a lazy import is still a dependency, and often one that hides a
cycle), under `if TYPE_CHECKING:`, as `import dart_hf.b`, `from dart_hf import b`,
`from dart_hf.b import name`, relative imports, and `importlib.import_module("dart_hf.b")` or a
lazy-registry string `"dart_hf.b:Name"`. Importing `dart_hf.pkg.mod` is an edge to
`dart_hf.pkg.mod` only (not to the package `__init__` Python also runs), so a package that
re-exports its submodules is not a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dart_hf"
SPEC = re.compile(r"^(dart_hf(?:\.\w+)*)(?::\w+)?$")


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages as `__init__`)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of the package that `module` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from a import b`: b may be a submodule, else a name defined in a
            targets = [f"{prefix}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = SPEC.match(node.value)  # import_module("dart_hf.x"), "dart_hf.x:Name"
            if match:
                targets = [match.group(1)]
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = module_names(root)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The shortest cycle through each import edge that lies on a cycle (each cycle once)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found: set[tuple[str, ...]] = set()
    for comp in components:
        for v in comp:
            for w in graph[v] & comp:  # the shortest cycle through each edge v -> w
                paths = {w: [w]}
                queue = [w]
                while queue and v not in paths:
                    x = queue.pop(0)
                    for y in sorted(graph[x] & comp):
                        if y not in paths:
                            paths[y] = paths[x] + [y]
                            queue.append(y)
                cycle = [v, *paths[v]]
                i = cycle.index(min(cycle[:-1]))  # one rotation per cycle
                found.add(tuple(cycle[i:-1] + cycle[:i] + [cycle[i]]))
    return sorted(list(c) for c in found)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles in dart_hf:\n" + "\n".join(" -> ".join(c) for c in found)


@pytest.mark.parametrize(
    ("source", "edge"),
    [
        ("from dart_hf import b\n", "dart_hf.b"),
        ("from dart_hf.b import name\n", "dart_hf.b"),
        ("import dart_hf.b\n", "dart_hf.b"),
        ("def f():\n    from dart_hf.b import name\n", "dart_hf.b"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import X\n",
            "dart_hf.b",
        ),
        ("import importlib\nimportlib.import_module('dart_hf.b')\n", "dart_hf.b"),
        ("REGISTRY = {'x': 'dart_hf.b:Thing'}\n", "dart_hf.b"),
    ],
)
def test_every_kind_of_import_is_an_edge(tmp_path: Path, source: str, edge: str) -> None:
    pkg = tmp_path / "dart_hf"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(source)
    (pkg / "b.py").write_text("from dart_hf import a\n")
    graph = import_graph(pkg)
    assert graph["dart_hf.a"] == {edge}
    assert cycles(graph) == [["dart_hf.a", "dart_hf.b", "dart_hf.a"]]


def test_a_package_importing_its_submodules_is_no_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "dart_hf"
    (pkg / "engines").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engines" / "__init__.py").write_text("from dart_hf.engines.base import Engine\n")
    (pkg / "engines" / "base.py").write_text("from dart_hf import errors\n")
    (pkg / "errors.py").write_text("")
    graph = import_graph(pkg)
    assert graph["dart_hf.engines"] == {"dart_hf.engines.base"}
    assert graph["dart_hf.engines.base"] == {"dart_hf.errors"}
    assert cycles(graph) == []
