"""The package's import graph has no circle: not between files, and not between folders (a folder importing
a folder that imports it back is an upward arrow). Every import counts, in functions and under
``TYPE_CHECKING`` too: a new one that closes a loop fails here, naming the files that make it."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "modelprint"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(path: Path) -> list[tuple[str, int]]:
    """Absolute ``modelprint`` imports of one file (module or ``module.name``), with their line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
    return [(name, line) for name, line in found if name.startswith("modelprint")]


def folder(module: str) -> str:
    """``modelprint.zoo.presets`` -> ``modelprint.zoo``; top-level modules stand for themselves."""
    parts = module.split(".")
    return ".".join(parts[:2])


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def graph(
    unit: Callable[[str], str], *, faces: bool = False
) -> tuple[dict[str, set[str]], dict[tuple[str, str], list[str]]]:
    """Import edges between units; ``faces``: an import of a package's ``__init__`` counts (between folders
    it is an arrow to that folder; between files it only hands names on, so it is left out)."""
    mods = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, path in mods.items():
        for target, line in imports(path):
            if target not in mods or (not faces and mods[target].name == "__init__.py"):
                continue  # a name, not a module; or a package's face
            a, b = unit(name), unit(target)
            if a != b and b != "modelprint":
                edges[a].add(b)
                edges[b]
                where[(a, b)].append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return edges, where


def describe(components: list[list[str]], where: dict[tuple[str, str], list[str]]) -> str:
    lines = []
    for component in components:
        lines.append(" <-> ".join(component))
        pairs = [(a, b) for a in component for b in component if (a, b) in where]
        lines += [f"  {a} -> {b}: {where[(a, b)][:3]}" for a, b in pairs]
    return "\n".join(lines)


def test_no_circle_between_files() -> None:
    edges, where = graph(lambda m: m)
    found = circles(edges)
    assert not found, describe(found, where)


def test_no_circle_between_folders() -> None:
    edges, where = graph(folder, faces=True)
    found = circles(edges)
    assert not found, describe(found, where)


FLOORS = [
    "types specs registry metrics",
    "models data calibration",
    "memo serving",
    "ops",
    "attacks",
    "zoo",
    "gan threats results testing",
    "pools",
    "queries",
    "representations",
    "detectors",
    "fingerprints",
    "verify",
    "keys",
    "workspace",
    "bench report",
    "cli",
]
"""The package's floors from the bottom, as the README's Architecture section draws them: a folder (or
top-level module) imports only from its own floor's neighbours or below (``modelprint/__init__`` stands
above all: it hands every public name on)."""


def test_no_folder_imports_a_floor_above_its_own() -> None:
    level = {f"modelprint.{u}": i for i, floor in enumerate(FLOORS) for u in floor.split()}
    edges, where = graph(folder, faces=True)
    missing = sorted(u for u in edges if u != "modelprint" and u not in level)
    assert not missing, f"give these a floor in FLOORS (and the README): {missing}"
    upward = [
        f"{a} (floor {level[a]}) -> {b} (floor {level[b]}): {where[(a, b)][:2]}"
        for a in edges
        for b in edges[a]
        if a != "modelprint" and level[b] > level[a]
    ]
    assert not upward, "\n".join(upward)


def test_the_check_sees_a_circle() -> None:
    edges = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert circles(edges) == [["a", "b", "c"]]
