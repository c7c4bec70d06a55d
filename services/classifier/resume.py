"""The resumable training state of ``emostream train``: ``resume.pt`` in the output directory.

It holds everything a killed run needs to go on as if it had not stopped: the weights, the optimizer,
the schedule, the EMA, where in which epoch it was (with that epoch's order of faces), the random
generators and the best epoch so far. It is written atomically (a temporary file in the same directory,
then :func:`os.replace`), mode 0600, after every epoch and every ``save_minutes`` inside one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

RESUME_STATE = "resume.pt"

#: config fields a resumed run may change (the rest must match the saved run's)
MUTABLE_FIELDS = frozenset({"minutes", "device", "save_minutes"})


def save_state(out_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``out_dir/resume.pt`` atomically, mode 0600. Returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESUME_STATE
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{RESUME_STATE}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_state(out_dir: Path, config: dict[str, object]) -> dict[str, Any] | None:
    """The state in ``out_dir/resume.pt``, or None when there is none.

    ``config``: this run's settings; raises ValueError when one outside :data:`MUTABLE_FIELDS` differs
    from the saved run's (another run's state must not be continued silently)."""
    path = out_dir / RESUME_STATE
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    saved = state.get("config", {})
    changed = sorted(
        k for k in set(saved) | set(config) if k not in MUTABLE_FIELDS and saved.get(k) != config.get(k)
    )
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {config.get(k)!r}" for k in changed)
        raise ValueError(f"{path} is from another run ({diffs}); use another --out or delete it")
    return state
