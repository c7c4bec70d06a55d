"""No function in services/ over 60 lines unless its docstring says why ("Long because: ..."): the
house's rule (issue 24), checked over the source so it cannot erode."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60


def long_functions(source: str) -> list[tuple[str, int]]:
    """(name, lines) of each function over LIMIT lines whose docstring gives no reason."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > LIMIT and "Long because:" not in (ast.get_docstring(node) or ""):
                found.append((node.name, lines))
    return found


def test_no_long_function_without_a_reason() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{name} ({lines} lines)"
        for path in sorted((ROOT / "services").rglob("*.py"))
        for name, lines in long_functions(path.read_text())
    ]
    assert not offenders, f"over {LIMIT} lines with no 'Long because:' in the docstring: {offenders}"


def test_the_check_sees_a_long_function_and_its_reason() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    assert long_functions(f"def f():\n{body}\n") == [("f", LIMIT + 1)]
    assert long_functions(f'def f():\n    """Long because: a table."""\n{body}\n') == []
