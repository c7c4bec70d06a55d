"""An image's size from its header, before decoding: JPEG SOF, PNG IHDR, and what is refused."""

from __future__ import annotations

import re
import struct

import cv2
import numpy as np
import pytest

from services.common.image_header import FrameRefused, check_frame, size_wh
from tests.support.image_bombs import jpeg, png_header


def progressive_jpeg(width: int, height: int) -> bytes:
    img = np.full((height, width, 3), 90, np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()


def with_app_segments(data: bytes, count: int) -> bytes:
    """``data`` with ``count`` 60 KB APP1 segments (EXIF-sized) between SOI and the rest."""
    app1 = b"\xff\xe1" + struct.pack(">H", 60_002) + b"\0" * 60_000
    return data[:2] + app1 * count + data[2:]


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (jpeg(64, 48), (64, 48)),
        (jpeg(claim_wh=(12000, 12000)), (12000, 12000)),
        (progressive_jpeg(33, 17), (33, 17)),  # SOF2
        (with_app_segments(jpeg(20, 10), 3), (20, 10)),  # the SOF after 180 KB of metadata
        (jpeg(8, 8)[:2] + b"\xff\xff" + jpeg(8, 8)[2:], (8, 8)),  # a fill byte before a marker
        (png_header(12000, 12000), (12000, 12000)),
        (cv2.imencode(".png", np.zeros((5, 7), np.uint8))[1].tobytes(), (7, 5)),
    ],
)
def test_size_from_the_header(data: bytes, size: tuple[int, int]) -> None:
    assert size_wh(data) == size


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "not a JPEG or PNG"),
        (b"GIF89a\x10\x00\x10\x00", "not a JPEG or PNG"),
        (cv2.imencode(".webp", np.zeros((4, 4, 3), np.uint8))[1].tobytes(), "not a JPEG or PNG"),
        (b"\xff\xd8", "truncated"),
        (jpeg(16, 16)[:20], "truncated"),
        (b"\xff\xd8\xff\xda\x00\x08", "no frame header"),  # scan data before any SOF
        (b"\xff\xd8\x00\x00\x00\x00", "marker expected"),
        (b"\xff\xd8\xff\xe0\x00\x01\x00\x00", "segment length"),
        (png_header(1, 1)[:20], "IHDR"),
    ],
)
def test_malformed_headers_raise(data: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        size_wh(data)


@pytest.mark.parametrize(
    ("data", "max_px", "status", "words"),
    [
        (jpeg(64, 48), 64 * 48, None, ""),
        (jpeg(64, 48), 64 * 48 - 1, 413, "64x48 (3,072 pixels) is over the limit of 3,071 pixels"),
        (jpeg(claim_wh=(12000, 12000)), 4096 * 2160, 413, "EMOSTREAM_MAX_FRAME_PX"),
        (png_header(12000, 12000), 4096 * 2160, 413, "12000x12000"),
        (png_header(0, 10), 100, 422, "0x10"),
        (b"BM not an image", 100, 415, "not a JPEG or PNG"),
        (b"\xff\xd8\xff", 100, 422, "truncated"),
    ],
)
def test_check_frame(data: bytes, max_px: int, status: int | None, words: str) -> None:
    if status is None:
        assert check_frame(data, max_px) == size_wh(data)
        return
    with pytest.raises(FrameRefused, match=re.escape(words)) as refused:
        check_frame(data, max_px)
    assert refused.value.status == status
