"""docs/architecture.md names only what exists: every file it names by path (``common/streams.py``,
relative to services/ or to the repository; a bare ``stage.py`` is the kind of file, not one), and every
``file.py: Name`` it points at, so the map is redrawn when the house changes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "architecture.md").read_text()
NAMED = re.compile(r"`((?:[\w.]+/)+[\w.]+\.py)(?:: (\w+)(?:\.\w+)?)?")


def defined(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_file_and_name_in_the_map_exists() -> None:
    found = NAMED.findall(DOC)
    assert len(found) >= 25
    missing = []
    for name, symbol in found:
        path = next((p for p in (ROOT / "services" / name, ROOT / name) if p.is_file()), None)
        if path is None:
            missing.append(name)
        elif symbol and symbol not in defined(path):
            missing.append(f"{name}: {symbol}")
    assert missing == []


def test_the_map_names_every_service_and_floor() -> None:
    for room in ("common", "ingest", "detector", "classifier", "tracker", "events", "ui", "cli"):
        assert f"services/{room}/" in DOC or f"`{room}`" in DOC or f"**{room}**" in DOC, room
