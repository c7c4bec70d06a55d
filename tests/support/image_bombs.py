"""Small images whose headers claim huge sizes (decompression bombs), for the UI's frame limits
(this module holds no tests). Nothing here builds the pixels: only a header is made to lie."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR says ``width`` x ``height`` (RGB, 8 bit), with one small IDAT and IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = 64, height: int = 48, claim_wh: tuple[int, int] | None = None) -> bytes:
    """A real ``width`` x ``height`` JPEG; with ``claim_wh`` its frame header (SOF0) says that size."""
    data = bytearray(cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))[1].tobytes())
    if claim_wh is not None:
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", claim_wh[1], claim_wh[0])
    return bytes(data)
