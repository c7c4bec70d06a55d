"""What a camera URI means: the one place that classifies and checks URIs, shared by ingest (which opens
them), the registry and the REST API (which store them). Pure: no Redis, no env."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MAX_URI_CHARS = 2048
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: what a video job accepts (an upload, or a file in a folder given to ``analyze``)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
SourceKind = Literal["device", "url", "folder", "file", "push", "job"]
#: ``job:ID/NAME``: a file of a UI job, under ``{EMOSTREAM_DATA_DIR}/jobs/ID/NAME`` on whichever host opens it
#: (the UI and ingest mount the same job storage, each at its own data directory)
JOB_REF = re.compile(r"job:([A-Za-z0-9]{1,64})(?:/([A-Za-z0-9_-][A-Za-z0-9._-]{0,127}))?")


class SourceError(RuntimeError):
    """A source that cannot be opened or read, or a URI that is refused; the message says which and why."""


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    target: str  # path, URL, or device index as text

    @property
    def device_index(self) -> int:
        return int(self.target)


def parse_uri(uri: str) -> SourceSpec:
    """Classify a camera URI.

    ``0`` / ``device:0`` / ``/dev/video0`` -> webcam; ``rtsp://``, ``http(s)://`` -> stream URL;
    a directory -> a folder of images played in name order; ``push:NAME`` -> frames published by
    another process (the UI's webcam), which ingest never opens; anything else -> a video file path
    (``file://`` prefix allowed). Raises :class:`SourceError` for a URI :func:`check_uri` refuses or an
    empty push name.
    """
    text = check_uri(uri).strip()
    if text.startswith("job:"):
        job_path(text, Path("."))  # refuses a malformed reference
        return SourceSpec("job", text)
    if text.startswith("push:"):
        if not text[5:].strip():
            raise SourceError(f"push uri {uri!r} needs a name after 'push:'")
        return SourceSpec("push", text[5:].strip())
    if text.isdigit():
        return SourceSpec("device", text)
    if text.startswith("device:") and text[7:].isdigit():
        return SourceSpec("device", text[7:])
    if text.startswith("/dev/video") and text[10:].isdigit():
        return SourceSpec("device", text[10:])
    if text.split("://", 1)[0].lower() in ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp"):
        return SourceSpec("url", text)
    path = text.removeprefix("file://")
    try:
        is_dir = Path(path).is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise SourceError(f"camera uri is not a usable path: {exc.strerror or exc}") from exc
    return SourceSpec("folder" if is_dir else "file", path)


#: what :func:`check_uri` accepts, as a regular expression: no control character, not only spaces
URI_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"


def check_uri(uri: str) -> str:
    """``uri`` unchanged when it may be registered; raises :class:`SourceError` saying why otherwise:
    empty (or only spaces), longer than :data:`MAX_URI_CHARS`, or holding a NUL or another control
    character. :data:`URI_PATTERN` says the same as a regular expression (the REST API's schema)."""
    if not uri.strip(" "):
        raise SourceError("camera uri must not be empty")
    if len(uri) > MAX_URI_CHARS:
        raise SourceError(f"camera uri is {len(uri)} characters, over the limit of {MAX_URI_CHARS}")
    bad = next((ch for ch in uri if ord(ch) < 32 or ord(ch) == 127), None)
    if bad is not None:
        raise SourceError(f"camera uri holds the control character {bad!r}")
    return uri


def job_path(ref: str, data_dir: Path) -> Path:
    """Where the job reference ``job:ID/NAME`` (or ``job:ID``, the job's directory) is under ``data_dir``.
    Raises :class:`SourceError` for anything else: the pattern leaves no room for ``..`` or ``/``."""
    found = JOB_REF.fullmatch(ref)
    if found is None:
        raise SourceError(f"job reference {ref!r} is not job:ID or job:ID/NAME")
    job_dir = data_dir / "jobs" / found.group(1)
    return job_dir / found.group(2) if found.group(2) else job_dir


def local_path(ref: str | Path, data_dir: Path | None) -> Path:
    """A job reference resolved under ``data_dir``; any other path as it is."""
    ref = str(ref)
    if ref.startswith("job:"):
        if data_dir is None:
            raise SourceError(f"{ref} needs a data directory to resolve in")
        return job_path(ref, data_dir)
    return Path(ref)


def source_loops(uri: str) -> bool:
    """Whether a live source replays from the start when it ends: local video files and image folders
    do (so a sample file behaves like a camera); webcams, network streams and pushed frames do not.
    The one rule for ``up``, the REST API, the dashboard and ``EMOSTREAM_SOURCES``."""
    try:
        return parse_uri(uri).kind in ("file", "folder")
    except SourceError:
        return False
