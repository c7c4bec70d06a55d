"""Files that hold faces stay with the user who made them: a 077 umask and 0700 directories.

Frames, crops, timelines, job outputs and the embedded Redis's append-only file are personal data. Every
service (``common.entrypoint``) and the CLI set the umask first, so whatever they or a child (Redis,
FFmpeg) create is 0600 / 0700, and the directories they own are made 0700 even when they already exist.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_umask() -> None:
    """Files and directories this process and its children create from now on: owner only."""
    os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """``path`` created if missing (with its parents) and made 0700; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path
