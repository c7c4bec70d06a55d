"""Pure logic of ingest: pacing, retry backoff, image folders (URIs: ``common.sources``). No Redis, no env."""

from __future__ import annotations

from pathlib import Path

from services.common.sources import IMAGE_SUFFIXES


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
    return min(cap_s, base_s * 2.0 ** max(0, attempt - 1))


def effective_fps(source_fps: float, cap_fps: float) -> float:
    """The rate a live source is published at: its own rate, capped (0 means no cap)."""
    fps = source_fps if 1 <= source_fps <= 240 else 25.0
    return min(fps, cap_fps) if cap_fps > 0 else fps
