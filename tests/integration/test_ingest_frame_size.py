"""Ingest refuses a frame over EMOSTREAM_MAX_FRAME_PX before it decodes one, wherever the size can be known
first: a folder image's header, an MJPEG camera's first JPEG header (a real HTTP server on loopback), the
size a video file's container declares. The same sources under no limit decode, so the refusals are the
limit's doing and not a broken source."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.source_policy import SourcePolicy
from services.common.sources import SourceError, SourceSpec
from services.ingest.source import FrameSource
from tests.support.http import HttpServer, QuietHandler
from tests.support.image_bombs import jpeg
from tests.support.videos import write_video

pytestmark = pytest.mark.integration

POLICY = SourcePolicy.parse("hosts=127.0.0.1/32", "0.0.0.0", [])
LIMIT = 1_000_000
BIG_WH = (1600, 1000)  # 1.6 MP: over LIMIT, small enough to decode in the control case
REFUSED = r"frame 1600x1000 exceeds the limit of 1000000 pixels \(EMOSTREAM_MAX_FRAME_PX\); refused before"


def real_jpeg(size_wh: tuple[int, int]) -> bytes:
    img = np.zeros((size_wh[1], size_wh[0], 3), np.uint8)
    cv2.circle(img, (size_wh[0] // 2, size_wh[1] // 2), size_wh[1] // 4, (200, 180, 160), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


@pytest.fixture(scope="module")
def mjpeg_server() -> Iterator[str]:
    """An MJPEG camera at /big.mjpg (BIG_WH frames) and /small.mjpg (160x120)."""
    frames = {"/big.mjpg": real_jpeg(BIG_WH), "/small.mjpg": real_jpeg((160, 120))}
    alive = threading.Event()
    alive.set()

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 -- the http.server hook
            frame = frames.get(self.path)
            if frame is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n".encode()
            while alive.is_set():
                try:
                    self.wfile.write(head + frame + b"\r\n")
                except OSError:
                    return
                time.sleep(0.05)

    with HttpServer(Handler) as server:
        yield server.url
        alive.clear()


def first_frame_shape(spec: SourceSpec, policy: SourcePolicy | None, max_px: int) -> tuple[int, ...]:
    source = FrameSource(spec, policy, max_px=max_px)
    try:
        frame = source.read()
        assert frame is not None
        return frame.shape[:2]
    finally:
        source.close()


def test_an_mjpeg_camera_over_the_limit_is_refused_from_its_first_header(mjpeg_server: str) -> None:
    big = SourceSpec("url", f"{mjpeg_server}/big.mjpg")
    with pytest.raises(SourceError, match=REFUSED):
        FrameSource(big, POLICY, max_px=LIMIT)
    assert first_frame_shape(SourceSpec("url", f"{mjpeg_server}/small.mjpg"), POLICY, LIMIT) == (120, 160)
    assert first_frame_shape(big, POLICY, 0) == (1000, 1600)  # the control: no limit, it decodes


def test_a_folder_image_over_the_limit_is_refused_from_its_header(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(real_jpeg((160, 120)))
    (tmp_path / "b.jpg").write_bytes(real_jpeg(BIG_WH))
    source = FrameSource(SourceSpec("folder", str(tmp_path)), max_px=LIMIT)
    try:
        assert source.read() is not None
        with pytest.raises(SourceError, match=REFUSED):
            source.read()
    finally:
        source.close()
    assert first_frame_shape(SourceSpec("folder", str(tmp_path)), None, 0) == (120, 160)


def test_a_folder_image_whose_header_lies_is_never_decoded(tmp_path: Path) -> None:
    """64x48 pixels under a header that says 12000x12000: the decoder would allocate 432 MB for it."""
    (tmp_path / "bomb.jpg").write_bytes(jpeg(claim_wh=(12_000, 12_000)))
    source = FrameSource(SourceSpec("folder", str(tmp_path)), max_px=LIMIT)
    with pytest.raises(SourceError, match=r"frame 12000x12000 exceeds the limit .* refused before decoding"):
        source.read()


def test_a_video_whose_container_declares_a_frame_over_the_limit_is_refused_at_open(tmp_path: Path) -> None:
    video = write_video(tmp_path / "big.avi", BIG_WH, frames=2)
    with pytest.raises(SourceError, match=REFUSED):
        FrameSource(SourceSpec("file", str(video)), max_px=LIMIT)
    assert first_frame_shape(SourceSpec("file", str(video)), None, 0) == (1000, 1600)
