"""Appearance descriptors of a face, for re-identifying a person after an occlusion or an absence.

A descriptor is a short L2-normalised vector computed from the pixels of the face box, so that the cosine
(dot product) of two descriptors is their similarity in 0..1. It rides in the ``Face`` message
(``appearance``), is carried by the classifier, and the tracker matches lost tracks by it
(docs/tracking.md has the measured ROC AUC of each kind, ``python -m benchmarks.appearance``).

- ``colour``: a hue-saturation histogram (16 x 4 bins) of the face box and of the band above it (hair),
  plus a coarse brightness histogram: skin, hair and lighting.
- ``texture``: uniform LBP histograms over a 2 x 2 grid of the grey face (texture of the features).
- ``colour_texture``: both, each weighted by half.

Every histogram is square-rooted before normalising (the Hellinger kernel), so the cosine is the
Bhattacharyya coefficient of the histograms. No torch; about 0.2 ms per face on one core.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

Kind = Literal["colour", "texture", "colour_texture", "none"]
KINDS: tuple[Kind, ...] = ("colour", "texture", "colour_texture", "none")
Vector = npt.NDArray[np.float32]

_SIDE = 48  # the face box is resized to this square before texture
_H_BINS, _S_BINS, _V_BINS = 16, 4, 8


def _region(
    frame_bgr: np.ndarray, box: tuple[float, float, float, float], grow_top: float = 0.0
) -> np.ndarray:
    h, w = frame_bgr.shape[:2]
    x1, y1, x2, y2 = box
    y1 -= grow_top * (y2 - y1)
    ix1, iy1 = max(0, int(round(x1))), max(0, int(round(y1)))
    ix2, iy2 = min(w, int(round(x2))), min(h, int(round(y2)))
    if ix2 - ix1 < 2 or iy2 - iy1 < 2:
        return np.zeros((0, 0, 3), np.uint8)
    return frame_bgr[iy1:iy2, ix1:ix2]


def _hellinger(hist: np.ndarray) -> Vector:
    v = np.sqrt(np.asarray(hist, np.float32).ravel())
    n = float(np.linalg.norm(v))
    return (v / n if n > 0 else v).astype(np.float32)


def colour(frame_bgr: np.ndarray, box: tuple[float, float, float, float]) -> Vector:
    """Hue-saturation histograms of the face box and of the band of half a face above it, and a brightness
    histogram of the face; ``(2 * 16 * 4 + 8,)``."""
    parts = []
    x1, y1, x2, y2 = box
    hair_box = (x1, y1 - 0.5 * (y2 - y1), x2, y1 + 0.1 * (y2 - y1))
    for b in (box, hair_box):
        region = _region(frame_bgr, b)
        if region.size == 0:
            parts.append(np.zeros(_H_BINS * _S_BINS, np.float32))
            continue
        hsv = cv2.cvtColor(region, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [_H_BINS, _S_BINS], [0, 180, 0, 256])
        parts.append(_hellinger(hist))
    face = _region(frame_bgr, box)
    if face.size:
        grey = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
        parts.append(0.5 * _hellinger(cv2.calcHist([grey], [0], None, [_V_BINS], [0, 256])))
    else:
        parts.append(np.zeros(_V_BINS, np.float32))
    return _hellinger(np.concatenate(parts) ** 2)


def _uniform_lbp_table() -> npt.NDArray[np.uint8]:
    """LBP code -> bin: the 58 uniform patterns (at most two 0/1 transitions) get bins 0-57, the rest 58."""
    table = np.full(256, 58, np.uint8)
    b = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = b
            b += 1
    return table


_LBP_TABLE = _uniform_lbp_table()


def texture(frame_bgr: np.ndarray, box: tuple[float, float, float, float]) -> Vector:
    """Uniform LBP (8 neighbours, radius 1) histograms of the grey face's four quarters; ``(4 * 59,)``."""
    face = _region(frame_bgr, box)
    if face.size == 0:
        return np.zeros(4 * 59, np.float32)
    g = cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), (_SIDE, _SIDE), interpolation=cv2.INTER_AREA)
    g = cv2.GaussianBlur(g, (3, 3), 0).astype(np.int16)
    c = g[1:-1, 1:-1]
    code = np.zeros(c.shape, np.uint8)
    offsets = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
    for bit, (dy, dx) in enumerate(offsets):
        n = g[1 + dy : g.shape[0] - 1 + dy, 1 + dx : g.shape[1] - 1 + dx]
        code |= ((n >= c).astype(np.uint8) << bit).astype(np.uint8)
    bins = _LBP_TABLE[code]
    half = bins.shape[0] // 2
    quarters = (bins[:half, :half], bins[:half, half:], bins[half:, :half], bins[half:, half:])
    hists = [np.bincount(q.ravel(), minlength=59).astype(np.float32) for q in quarters]
    return _hellinger(np.concatenate(hists))


def describe(kind: Kind, frame_bgr: np.ndarray, box: tuple[float, float, float, float]) -> Vector:
    """The ``kind`` descriptor of the face at ``box`` (pixels) in ``frame_bgr``; empty for ``none``.

    Raises ValueError for an unknown kind.
    """
    if kind == "colour":
        return colour(frame_bgr, box)
    if kind == "texture":
        return texture(frame_bgr, box)
    if kind == "colour_texture":
        both = np.concatenate([colour(frame_bgr, box), texture(frame_bgr, box)]) * np.float32(np.sqrt(0.5))
        return both.astype(np.float32)
    if kind == "none":
        return np.zeros(0, np.float32)
    raise ValueError(f"unknown appearance descriptor {kind!r}; one of {', '.join(KINDS)}")


def pack(vector: npt.ArrayLike) -> bytes:
    """The wire form of a descriptor: float16, little-endian (``b""`` for an empty one)."""
    return np.asarray(vector, dtype="<f2").tobytes()


def unpack(data: bytes) -> Vector:
    """The descriptor of :func:`pack` as float32; raises ValueError for an odd number of bytes."""
    if len(data) % 2:
        raise ValueError(f"an appearance descriptor is float16: {len(data)} bytes is not a whole number")
    return np.frombuffer(data, dtype="<f2").astype(np.float32)


def similarity(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two descriptors; 0.0 when either is empty or their lengths differ."""
    va, vb = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if va.size == 0 or va.shape != vb.shape:
        return 0.0
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    return float(va @ vb / (na * nb)) if na > 0 and nb > 0 else 0.0
