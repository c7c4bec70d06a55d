"""docs/deploy.md's "Security model": every row of its table names a test, and every test it names exists
(a file, and the function where one is named), so a claim cannot outlive the test behind it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "deploy.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


SECURITY = section("Security model")
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def test_every_threat_row_names_a_test() -> None:
    rows = [line for line in SECURITY.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 10
    for row in rows:
        assert REFERENCE.search(row.split("|")[-2]), f"a claim without a test: {row[:80]}"


def test_every_named_test_exists() -> None:
    found = REFERENCE.findall(SECURITY)
    assert len(found) >= 15
    for path, name in found:
        file = ROOT / path
        assert file.is_file(), f"{path} is named in docs/deploy.md but does not exist"
        if name:
            defs = {n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}
            assert name in defs, f"{path}::{name} is named in docs/deploy.md but does not exist"
