"""Pure logic of ingest: what a camera URI means, pacing, and retry backoff. No Redis, no env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SourceKind = Literal["device", "url", "folder", "file", "push"]


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message says which and why."""


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
    (``file://`` prefix allowed). Raises :class:`SourceError` for an empty URI or an empty push name.
    """
    text = uri.strip()
    if not text:
        raise SourceError("empty camera uri")
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
    if Path(path).is_dir():
        return SourceSpec("folder", path)
    return SourceSpec("file", path)


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


class Pacer:
    """Spaces frames ``1/fps`` apart on a monotonic clock without drifting.

    ``delay_s(now_s)`` says how long to sleep before the next frame; falling behind by more than a
    frame resets the schedule instead of bursting to catch up (a live camera never bursts).
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.period_s = 1.0 / fps
        self._next_s: float | None = None

    def delay_s(self, now_s: float) -> float:
        if self._next_s is None or now_s - self._next_s > self.period_s:
            self._next_s = now_s
        delay = max(0.0, self._next_s - now_s)
        self._next_s += self.period_s
        return delay


def backoff_s(attempt: int, base_s: float = 1.0, cap_s: float = 30.0) -> float:
    """Retry delay after ``attempt`` consecutive failures (1, 2, 4, ... capped)."""
    return min(cap_s, base_s * 2 ** max(0, attempt - 1))


def effective_fps(source_fps: float, cap_fps: float) -> float:
    """The rate a live source is published at: its own rate, capped (0 means no cap)."""
    fps = source_fps if 1 <= source_fps <= 240 else 25.0
    return min(fps, cap_fps) if cap_fps > 0 else fps
