"""Frame sources over OpenCV: video files, folders of images, webcams, RTSP/HTTP streams.

A URL opens inside the source policy (:mod:`common.source_policy`), checked again at each open: under a
policy other than ``any``, ingest fetches an http(s) source itself and relays its body to FFmpeg
(:mod:`services.ingest.fetch`, :mod:`services.ingest.relay`); any other URL goes to FFmpeg with its host
replaced by a checked address (:meth:`SourcePolicy.pin`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from services.common.addresses import resolve
from services.common.image_header import size_wh
from services.common.source_policy import Resolver, SourcePolicy
from services.common.sources import SourceError, SourceSpec
from services.ingest.fetch import fetch
from services.ingest.relay import Relay
from services.ingest.stage import list_images

log = logging.getLogger(__name__)

RELAY_HINT = (
    "; under EMOSTREAM_SOURCE_ALLOW rules an http(s) source is read as a stream, so an MP4 needs its index"
    " first (faststart), or use MJPEG or MPEG-TS"
)


class FrameSource:
    """Reads BGR frames one at a time. ``read()`` returns None at the end of a finite source.

    ``policy`` decides which URLs open (default: ``any``); ``resolver`` is DNS (tests pass a table).
    ``max_px``: a source whose frames are larger is refused before a frame is decoded where its size can
    be known first (an image's header, an MJPEG stream's first JPEG header, the size the container
    declares), so a 12000x12000 frame costs no 432 MB of pixels (0: no limit).
    Raises :class:`SourceError` (:class:`SourceRefused` naming the rule) when the source does not open."""

    def __init__(
        self,
        spec: SourceSpec,
        policy: SourcePolicy | None = None,
        resolver: Resolver = resolve,
        max_px: int = 0,
    ) -> None:
        self.spec = spec
        self.policy = policy or SourcePolicy(allow_all=True)
        self.resolver = resolver
        self.max_px = max_px
        self._relay: Relay | None = None
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
        if spec.kind == "device":
            cap = cv2.VideoCapture(spec.device_index)
        elif spec.kind == "url" and not self.policy.allow_all:
            cap = self._open_url(spec.target)
        else:
            cap = cv2.VideoCapture(spec.target)
        if not cap.isOpened():
            cap.release()
            hint = RELAY_HINT if self._relay is not None else ""
            self._close_relay()
            raise SourceError(
                f"cannot open {spec.kind} {spec.target!r} (not a readable video or unreachable){hint}"
            )
        self._cap = cap
        try:
            self._check_size(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        except SourceError:
            self.close()
            raise
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if spec.kind == "file":
            self.total_frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))

    def _open_url(self, url: str) -> cv2.VideoCapture:
        """``url`` opened inside the policy: http(s) fetched here and relayed, any other URL pinned."""
        if url.split("://", 1)[0].lower() not in ("http", "https"):
            return cv2.VideoCapture(self.policy.pin(url, self.resolver))
        fetched = fetch(url, self.policy, self.resolver)
        start = fetched.head.find(b"\xff\xd8\xff")  # an MJPEG stream (multipart or bare): its first JPEG
        if start >= 0:
            try:
                self._check_header(fetched.head[start:])
            except SourceError:
                fetched.close()
                raise
        self._relay = Relay(fetched)
        try:
            return cv2.VideoCapture(self._relay.target, cv2.CAP_FFMPEG)
        except BaseException:
            self._close_relay()
            raise

    def _check_size(self, width: int, height: int) -> None:
        if self.max_px and width * height > self.max_px:
            raise SourceError(
                f"frame {width}x{height} exceeds the limit of {self.max_px} pixels (EMOSTREAM_MAX_FRAME_PX);"
                " refused before decoding"
            )

    def _check_header(self, data: bytes) -> None:
        """:meth:`_check_size` on the size a JPEG or PNG header in ``data`` says. Another format, or a header
        that does not parse (or lies past the bytes at hand), is left to the decoder."""
        try:
            size = size_wh(data)
        except ValueError:
            return
        self._check_size(*size)

    def _read_image(self, path: Path) -> np.ndarray:
        """One image of a folder, its size checked from its header first (a JPEG or PNG)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read image {path}: {exc.strerror}") from None
        self._check_header(data)
        frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if frame is None:
            raise SourceError(f"cannot decode image {path}")
        return frame

    def _close_relay(self) -> None:
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end. Raises :class:`SourceError` when a live source fails."""
        if self._images:
            if self.read_count >= len(self._images):
                return None
            frame = self._read_image(self._images[self.read_count])
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
        self._close_relay()  # after FFmpeg let go of the pipe
