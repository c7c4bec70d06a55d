"""What docs/privacy.md says the data directory can hold, as glob patterns (its "On disk" table)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def data_dir_patterns(text: str | None = None) -> list[str]:
    """The first column's paths, ``{id}`` as ``*``; a bare name in a cell is in the directory of the
    cell's first path (``jobs/{id}/tracks.csv, timeline.json``)."""
    text = text if text is not None else DOC.read_text()
    start = text.index("### On disk")
    table = text[start : text.index("\n\n**", start)]
    patterns: list[str] = []
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        names = re.findall(r"`([^`]+)`", line.split("|")[1])
        folder = names[0].rsplit("/", 1)[0] + "/" if "/" in names[0] else ""
        for name in names:
            path = name if "/" in name else folder + name
            patterns.append(path.replace("{id}", "*"))
    return patterns


def unlisted(root: Path, patterns: list[str]) -> list[str]:
    """Files under ``root`` that no pattern matches (relative paths)."""
    files = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    return [f for f in files if not any(fnmatch.fnmatchcase(f, p) for p in patterns)]
