"""mypy runs strict over services/ (pyproject.toml); where a ``type: ignore`` remains, it names its error
code and says why, so each one can be re-checked when a library's stubs change."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
WELL_FORMED = re.compile(r"\[[a-z-]+(, [a-z-]+)*\]  # \S.{8,}")


def test_every_type_ignore_names_its_code_and_why() -> None:
    bad = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = IGNORE.search(line)
            if found and not WELL_FORMED.fullmatch(found["rest"]):
                bad.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bad == []


def test_strict_mypy_is_on() -> None:
    assert re.search(r"^\[tool\.mypy\][^\[]*^strict = true$", (ROOT / "pyproject.toml").read_text(), re.M)
