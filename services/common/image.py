"""JPEG encoding and decoding of BGR frames, shared by ingest, detector and ui."""

from __future__ import annotations

import cv2
import numpy as np


def encode_jpeg(img_bgr: np.ndarray, quality: int = 90) -> bytes:
    """Encode an image as JPEG.

    Args:
        img_bgr: (h, w, 3) BGR or (h, w) grey uint8 image.
        quality: JPEG quality, 1..100.

    Raises:
        ValueError: for an empty or wrongly shaped image, a quality outside 1..100, or a failed encode.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    if img_bgr.size == 0 or img_bgr.ndim not in (2, 3) or (img_bgr.ndim == 3 and img_bgr.shape[2] != 3):
        raise ValueError(f"expected a non-empty (h, w, 3) or (h, w) image, got shape {img_bgr.shape}")
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(img_bgr, dtype=np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {img_bgr.shape}")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode JPEG (or any image format OpenCV reads) bytes to a (h, w, 3) BGR uint8 array.

    Raises:
        ValueError: when the bytes are empty or not a decodable image.
    """
    if not data:
        raise ValueError("cannot decode an image from empty bytes")
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode {len(data)} bytes as an image (starts with {data[:8]!r})")
    return img
