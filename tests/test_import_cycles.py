"""No import cycles between the modules of mint_rl, envs and agents, function-local imports included.

A cycle closed by an import inside a function still ties the modules together (neither can be
understood, tested or moved without the other); it only hides the cycle from Python until the
function runs. So every ``import`` / ``from ... import`` in a module's source counts, wherever it
stands. Importing a submodule does not count as importing its parent package (Python runs the
package's ``__init__`` first, but a package's ``__init__`` importing its own submodules is not a
cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mint_rl", "envs", "agents")


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Every module of ``packages`` under ``root``, by dotted name (a package is its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that importing ``name`` loads: the longest known prefix of it."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``module`` imports anywhere in its source (function bodies included)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..y import z
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from pkg import name``: name is a submodule of pkg, or an attribute of pkg itself
            targets = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in modules else prefix
                       for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, modules)
            if resolved is not None and resolved != module:
                found.add(resolved)
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = module_files(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)

    cycles = []
    for component in components:  # the shortest way from the component's first module back to it
        members, start = set(component), component[0]
        parents: dict[str, str] = {}
        queue, closing = [start], None
        while closing is None:
            v = queue.pop(0)
            for w in sorted(graph[v] & members):
                if w == start:
                    closing = v
                    break
                if w not in parents:
                    parents[w] = v
                    queue.append(w)
        path = [closing]
        while path[-1] != start:
            path.append(parents[path[-1]])
        cycles.append(path[::-1] + [start])
    return cycles


def test_no_import_cycles_between_our_modules() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert "mint_rl.checkpoint" in graph and "envs.wrappers" in graph, "the module walk found nothing"
    cycles = find_cycles(graph)
    assert not cycles, ("import cycles (function-local imports included): "
                        + "; ".join(" → ".join(cycle) for cycle in cycles))


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_detector_finds_a_cycle_closed_by_a_function_local_import(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import g\n\ndef f():\n    return g()\n",
        "pkg/b.py": "def g():\n    from pkg import c\n    return c.h()\n",
        "pkg/c.py": "import os\n\ndef h():\n    from .a import f  # closes a → b → c → a\n    return f\n",
        "pkg/d.py": "import pkg.a\n",  # outside the circle
    })
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.c"] == {"pkg.a"} and graph["pkg.d"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


@pytest.mark.parametrize("closing", ["from .. import base", "import top.base", "from top import base",
                                     "from top.base import thing"])
def test_the_detector_resolves_every_import_form(tmp_path: Path, closing: str) -> None:
    _write(tmp_path, {
        "top/__init__.py": "from top.sub.leaf import x\n",
        "top/base.py": "from top.sub import leaf\nthing = 1\n",
        "top/sub/__init__.py": "",
        "top/sub/leaf.py": f"x = 1\n\nclass K:\n    def m(self):\n        {closing}\n",
    })
    graph = import_graph(tmp_path, ("top",))
    assert find_cycles(graph) == [["top.base", "top.sub.leaf", "top.base"]]


def test_the_detector_passes_a_package_whose_init_imports_its_submodules(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.a import f\nfrom . import b\n",
        "pkg/a.py": "from pkg.b import g\nf = g\n",
        "pkg/b.py": "import json\n\ndef g():\n    return json\n",
    })
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg"] == {"pkg.a", "pkg.b"}
    assert find_cycles(graph) == []
