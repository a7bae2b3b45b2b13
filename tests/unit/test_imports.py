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

PACKAGE = Path(__file__).resolve().parents[2] / "dart_hf"
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


# ------------------------------------------------------------------ which may import which

GROUPS: dict[str, tuple[str, ...]] = {
    "cli": ("__main__", "cli"),
    "commands": (
        "build",
        "build.run",
        "build.regrade",
        "evaluation",
        "evaluation.run",
        "sampling.command",
        "training",
        "training.train",
        "recipe",
    ),
    "orchestration": ("executors", "build.rounds"),
    "release": (
        "hub",
        "build.cards",
        "build.plots",
        "build.stats",
        "build.schema",
        "build.assemble",
        "evaluation.results",
        "evaluation.plots",
    ),
    "stages": (
        "sampling",
        "grading",
        "normalise",
        "sources",
        "dars",
        "evaluation.passk",
        "build.majority",
        "training.packing",
        "metric",
    ),
    "engines": ("engines",),
    "shared": (
        "",
        "errors",
        "config",
        "logs",
        "outputs",
        "folders",
        "arrow_io",
        "strategies",
        "benchmarks",
    ),
}
"""Every module of the package in one group (a name covers its submodules)."""
MAY_IMPORT: dict[str, set[str]] = {
    "cli": {"cli", "commands", "orchestration", "release", "stages", "engines", "shared"},
    "commands": {"commands", "orchestration", "release", "stages", "engines", "shared"},
    "orchestration": {"orchestration", "stages", "engines", "shared"},
    "release": {"release", "stages", "shared"},
    "stages": {"stages", "engines", "shared"},
    "engines": {"engines", "shared"},
    "shared": {"shared"},
}
"""Arrows go one way: cli -> commands -> orchestration -> stages -> engines -> shared."""
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("config", "engines"): "BuildConfig checks the engine name against the registry (strings)",
    ("config", "engines.base"): "BuildConfig.engine_spec makes the EngineSpec",
    ("config", "grading.audit"): "BuildConfig checks its gold settings with GoldAuditConfig",
    ("config", "engines.connection"): "ServerConfig checks --header values (no literal secret)",
    ("engines", "engines.scripted"): "the registry names its backends (lazy strings)",
    ("engines", "engines.hf_engine"): "the registry names its backends (lazy strings)",
    ("engines", "engines.vllm_engine"): "the registry names its backends (lazy strings)",
}
"""Edges against the groups' order, each with why."""


def group_of(module: str) -> str:
    """The group of a module (`dart_hf.x.y` -> the group naming `x.y` or `x`)."""
    name = module.removeprefix("dart_hf").removeprefix(".")
    parts = name.split(".") if name else [""]
    while True:
        candidate = ".".join(parts)
        for group, names in GROUPS.items():
            if candidate in names:
                return group
        if len(parts) <= 1:
            raise KeyError(f"{module} is in no group of tests/unit/test_imports.py GROUPS")
        parts.pop()


def test_every_module_is_in_one_group() -> None:
    for module in import_graph():
        group_of(module)
    names = [n for names in GROUPS.values() for n in names]
    assert len(names) == len(set(names))


def test_imports_follow_the_layers() -> None:
    bad = []
    for module, targets in import_graph().items():
        a = group_of(module)
        for target in sorted(targets):
            b = group_of(target)
            short = (module.removeprefix("dart_hf."), target.removeprefix("dart_hf."))
            if b not in MAY_IMPORT[a] and short not in EXCEPTIONS:
                bad.append(f"{short[0]} ({a}) -> {short[1]} ({b})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_layer_exceptions_are_still_needed() -> None:
    graph = import_graph()
    gone = [e for e in EXCEPTIONS if f"dart_hf.{e[1]}" not in graph.get(f"dart_hf.{e[0]}", ())]
    assert not gone, f"exceptions no longer needed: {gone}"


# ------------------------------------------------------------------ private names


def private_crossings(root: Path = PACKAGE) -> list[str]:
    """Uses of another module's private name: `from dart_hf.x import _y` or `x._y` where `x`
    is a module of the package imported under that name."""
    modules = module_names(root)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    if full in modules:
                        aliases[a.asname or a.name] = full
                    elif (
                        a.name.startswith("_")
                        and not a.name.startswith("__")
                        and _resolve(node.module, modules) not in (None, module)
                    ):
                        found.append(f"{module}: from {node.module} import {a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in modules and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and aliases[node.value.id] != module
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{module}: {node.value.id}.{node.attr}")
    return sorted(set(found))


def test_no_private_name_crosses_a_module_boundary() -> None:
    found = private_crossings()
    assert not found, "private names used from another module:\n" + "\n".join(found)


def test_private_crossings_are_found(tmp_path: Path) -> None:
    pkg = tmp_path / "dart_hf"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "b.py").write_text("def _hidden(): ...\n_X = 1\n")
    (pkg / "a.py").write_text(
        "from dart_hf import b\nfrom dart_hf.b import _X\n\ndef f():\n    return b._hidden()\n"
    )
    assert private_crossings(pkg) == ["dart_hf.a: b._hidden", "dart_hf.a: from dart_hf.b import _X"]
