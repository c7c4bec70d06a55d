"""The house's shape, from the imports of services/ (every import, those inside functions too):

- floors: ``common`` at the bottom, the six services above it, ``cli`` on top; nothing imports from a
  floor above its own;
- no service reaches into another: a service imports only itself and ``common`` (the CLI composes them);
- no circle: no module imports, through any chain, itself.

The graph is read with :mod:`ast`, not by importing, so a lazy import cannot hide a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "detector", "classifier", "tracker", "events", "ui")
FLOOR = {"common": 0, **dict.fromkeys(SERVICES, 1), "cli": 2}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / "services").rglob("*.py"))}


def imports(path: Path, known: Iterable[str]) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` is ``a.b`` where that is a module)."""
    known = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in known:
                continue
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs or {node.module}
            if len(subs) < len(node.names):  # some names are the package's own attributes
                found.add(node.module)
    return found


def graph(root: Path) -> dict[str, set[str]]:
    mods = modules(root)
    return {name: imports(path, mods) - {name} for name, path in mods.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "services"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def wrong_way(edges: dict[str, set[str]]) -> list[str]:
    """Imports that go up a floor, or sideways from one service into another."""
    bad = []
    for src, targets in sorted(edges.items()):
        for dst in sorted(targets):
            a, b = room(src), room(dst)
            if a == b or b == "services" or a == "services":
                continue
            if FLOOR[b] > FLOOR[a]:
                bad.append(f"{src} -> {dst}: {b} is above {a}")
            elif FLOOR[b] == FLOOR[a]:
                bad.append(f"{src} -> {dst}: one service reaching into another")
    return bad


def test_every_room_has_a_floor() -> None:
    assert {room(m) for m in modules(ROOT)} - {"services"} == set(FLOOR)


def test_no_import_goes_up_a_floor_or_across_services() -> None:
    assert wrong_way(graph(ROOT)) == []


def test_no_circles() -> None:
    assert cycles(graph(ROOT)) == []


@pytest.mark.parametrize(
    ("files", "circles", "bad"),
    [
        (
            {"common/a.py": "from services.common import b", "common/b.py": "import services.common.a"},
            [["services.common.a", "services.common.b"]],
            [],
        ),
        (
            {"common/a.py": "def f():\n    from services.cli.x import y", "cli/x.py": "y = 1"},
            [],
            ["services.common.a -> services.cli.x: cli is above common"],
        ),
        (
            {
                "ui/a.py": "from services.tracker.b import c",
                "tracker/b.py": "from services.common.k import z",
                "common/k.py": "",
            },
            [],
            ["services.ui.a -> services.tracker.b: one service reaching into another"],
        ),
        (
            {
                "cli/a.py": "from services.ui import b",
                "ui/b.py": "from services.common import k",
                "common/k.py": "",
            },
            [],
            [],
        ),
    ],
)
def test_the_checks_see_a_circle_a_lazy_upward_import_and_a_sideways_one(
    tmp_path: Path, files: dict[str, str], circles: list[list[str]], bad: list[str]
) -> None:
    for name, text in files.items():
        path = tmp_path / "services" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(text + "\n")
    (tmp_path / "services" / "__init__.py").touch()
    edges = graph(tmp_path)
    assert cycles(edges) == circles
    assert wrong_way(edges) == bad
