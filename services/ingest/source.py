"""Frame sources over OpenCV: video files, folders of images, webcams, RTSP/HTTP streams."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from services.common.sources import SourceError, SourceSpec
from services.ingest.stage import list_images

log = logging.getLogger(__name__)


class FrameSource:
    """Reads BGR frames one at a time. ``read()`` returns None at the end of a finite source."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.fps = 0.0
        self.total_frames = 0  # 0 when unknown (live streams)
        self.read_count = 0
        self._cap: cv2.VideoCapture | None = None
        self._images: list[Path] = []
        self._open()

    def _open(self) -> None:
        spec = self.spec
        if spec.kind == "folder":
            self._images = list_images(Path(spec.target))
            if not self._images:
                raise SourceError(f"folder {spec.target} holds no images")
            self.total_frames = len(self._images)
            self.fps = 10.0
            return
        if spec.kind == "file" and not Path(spec.target).is_file():
            raise SourceError(f"video file not found: {spec.target}")
        cap = cv2.VideoCapture(spec.device_index if spec.kind == "device" else spec.target)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"cannot open {spec.kind} {spec.target!r} (not a readable video or unreachable)"
            )
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if spec.kind == "file":
            self.total_frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end. Raises :class:`SourceError` when a live source fails."""
        if self._images:
            if self.read_count >= len(self._images):
                return None
            path = self._images[self.read_count]
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise SourceError(f"cannot decode image {path}")
            self.read_count += 1
            return frame
        assert self._cap is not None
        ok, frame = self._cap.read()
        if not ok or frame is None:
            if self.spec.kind in ("device", "url"):
                raise SourceError(f"{self.spec.kind} {self.spec.target!r} stopped delivering frames")
            if self.read_count == 0:
                raise SourceError(f"video {self.spec.target} has no decodable frames")
            return None
        self.read_count += 1
        return frame

    def skip(self, frames: int) -> None:
        """Pass over the next ``frames`` frames without decoding them to images (a resumed file job).

        Raises :class:`SourceError` when the source ends first."""
        if self._images:
            if frames > len(self._images):
                raise SourceError(f"cannot resume at frame {frames}: the folder has {len(self._images)}")
            self.read_count = frames
            return
        assert self._cap is not None
        for i in range(frames):
            if not self._cap.grab():
                raise SourceError(f"cannot resume at frame {frames}: the video ended at frame {i}")
        self.read_count += frames

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
