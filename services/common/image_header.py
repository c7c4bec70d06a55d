"""An image's size from its header, before anything decodes it: a small JPEG or PNG can say
12000x12000, and decoding it takes 432 MB for the pixels alone.

:func:`size_wh` reads a JPEG's frame header (the SOF marker) or a PNG's IHDR chunk; :func:`check_frame`
refuses what is over the pixel limit, or not a JPEG or PNG at all, with the limit named.
"""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (baseline, extended, progressive, lossless, arithmetic); not DHT/JPG/DAC
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: markers that stand alone (no length field): TEM, RST0-7
_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})


class FrameRefused(ValueError):
    """An image refused before decoding; ``status`` is the HTTP status that says why (413, 415, 422)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _jpeg_size_wh(data: bytes) -> tuple[int, int]:
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _BARE_MARKERS:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            raise ValueError("JPEG has no frame header (SOF) before its scan data")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            raise ValueError(f"JPEG segment length {length} at byte {pos}")
        if marker in SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise ValueError("JPEG is truncated before its frame header (SOF)")


def size_wh(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG from its header; nothing is decoded.

    Raises ``ValueError`` for anything else, or a header that is truncated or malformed."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("PNG without an IHDR chunk first")
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size_wh(data)
    raise ValueError("not a JPEG or PNG")


def check_frame(data: bytes, max_px: int, setting: str = "EMOSTREAM_MAX_FRAME_PX") -> tuple[int, int]:
    """(width, height) of an image that may be decoded: a JPEG or PNG of at most ``max_px`` pixels.

    Raises :class:`FrameRefused`: 413 over the limit (naming ``setting``), 415 not a JPEG or PNG, 422 a
    header that cannot be read or says zero pixels."""
    try:
        width, height = size_wh(data)
    except ValueError as exc:
        status = 415 if "not a JPEG or PNG" in str(exc) else 422
        raise FrameRefused(f"frame refused: {exc}", status) from None
    if width == 0 or height == 0:
        raise FrameRefused(f"frame refused: its header says {width}x{height} pixels", 422)
    if width * height > max_px:
        raise FrameRefused(
            f"frame {width}x{height} ({width * height:,} pixels) is over the limit of {max_px:,} pixels"
            f" ({setting})",
            413,
        )
    return width, height
