"""MTCNN (facenet-pytorch) behind the :class:`~services.detector.stage.FaceDetector` seam."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils import detect_face as detect_face_module
from torch import nn

from services.common.backend import openvino_compile, resolve
from services.detector.stage import FaceDetections

log = logging.getLogger(__name__)


class MtcnnDetector:
    """Batched MTCNN face detection on BGR frames.

    Frames whose longer side exceeds ``max_side_px`` are downscaled first; boxes and landmarks come back in
    input-frame pixels, boxes clipped to the frame. Frames of equal (downscaled) size run as one batch.

    Args:
        min_face_size: smallest face searched for, in pixels of the (downscaled) detection image.
        thresholds: P-Net, R-Net, O-Net score thresholds in 0..1.
        max_side_px: longest side fed to MTCNN, or None to never downscale.
        device: torch device; CUDA when available, else CPU, when None.
        backend: ``openvino`` (or ``auto`` on CPU with OpenVINO installed): P-Net, R-Net and O-Net run on
            OpenVINO in f32, and the image pyramid and the candidate crops are resized with OpenCV's area
            interpolation instead of torch's adaptive average pooling (2x faster per frame here, the same
            faces; ``python -m benchmarks.detector``). Anything else: facenet-pytorch as it is.
    """

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        max_side_px: int | None = 640,
        device: str | None = None,
        backend: str = "auto",
    ) -> None:
        if max_side_px is not None and max_side_px < 12:
            raise ValueError(f"max_side_px must be >= 12 or None, got {max_side_px}")
        self.max_side_px = max_side_px
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self._mtcnn = MTCNN(
            keep_all=True,
            post_process=False,
            select_largest=False,
            min_face_size=min_face_size,
            thresholds=list(thresholds),
            device=self.device,
        )
        self.backend = resolve(backend, self.device)
        if self.backend == "openvino":
            self._mtcnn.pnet = OpenVinoNet(self._mtcnn.pnet, (3, 48, 48), dynamic_spatial=True)
            self._mtcnn.rnet = OpenVinoNet(self._mtcnn.rnet, (3, 24, 24))
            self._mtcnn.onet = OpenVinoNet(self._mtcnn.onet, (3, 48, 48))
        log.info(
            "mtcnn ready device=%s backend=%s min_face_size=%d thresholds=%s max_side_px=%s",
            self.device,
            self.backend,
            min_face_size,
            thresholds,
            max_side_px,
        )

    def detect(self, frames_bgr: Sequence[np.ndarray]) -> list[FaceDetections]:
        """Detect faces in each (h, w, 3) BGR uint8 frame; one FaceDetections per frame, in input order.

        Raises:
            ValueError: for a frame that is not (h, w, 3).
        """
        results: list[FaceDetections] = [FaceDetections.empty()] * len(frames_bgr)
        groups: dict[tuple[int, int], list[tuple[int, np.ndarray, np.ndarray]]] = {}
        for i, frame in enumerate(frames_bgr):
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.size == 0:
                raise ValueError(f"frame {i} must be a non-empty (h, w, 3) BGR image, got {frame.shape}")
            rgb, scale_xy = self._prepare(frame)
            groups.setdefault(rgb.shape[:2], []).append((i, rgb, scale_xy))
        for members in groups.values():
            batch = np.stack([rgb for _, rgb, _ in members])
            with _area_resize_by_opencv(self.backend == "openvino"):
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
            for (i, _, scale_xy), b, p, pts in zip(members, boxes, probs, points, strict=True):
                results[i] = _to_detections(b, p, pts, scale_xy, frames_bgr[i].shape[:2])
        return results

    def _prepare(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the RGB detection image and the (2,) x, y factors from its pixels to input pixels."""
        h, w = frame_bgr.shape[:2]
        if self.max_side_px is None or max(h, w) <= self.max_side_px:
            return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), np.ones(2, np.float32)
        f = self.max_side_px / max(h, w)
        size_wh = (max(1, round(w * f)), max(1, round(h * f)))
        small = cv2.resize(frame_bgr, size_wh, interpolation=cv2.INTER_AREA)
        scale_xy = np.array([w / size_wh[0], h / size_wh[1]], np.float32)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB), scale_xy


class OpenVinoNet(nn.Module):
    """One of MTCNN's nets compiled by OpenVINO (f32), in its place: the same outputs as a tuple."""

    def __init__(
        self, net: nn.Module, input_chw: tuple[int, int, int], dynamic_spatial: bool = False
    ) -> None:
        super().__init__()
        # facenet-pytorch reads the input dtype from the net's first parameter
        self.dtype_probe = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.run = openvino_compile(net, torch.zeros(1, *input_chw), dynamic_spatial, precision="f32")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(out) for out in self.run(x))


def _opencv_area_resize(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """facenet-pytorch's ``imresample`` (``interpolate(mode="area")``, i.e. adaptive average pooling, the
    largest cost of MTCNN on CPU) done by ``cv2.resize(INTER_AREA)`` per image, for CPU tensors."""
    if img.device.type != "cpu":
        return cast(torch.Tensor, _TORCH_IMRESAMPLE(img, size))
    h, w = int(size[0]), int(size[1])
    hwc = img.permute(0, 2, 3, 1).contiguous().numpy()
    out = np.stack([cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1) for a in hwc])
    return torch.from_numpy(out).permute(0, 3, 1, 2)


_TORCH_IMRESAMPLE = detect_face_module.imresample


@contextmanager
def _area_resize_by_opencv(enabled: bool) -> Iterator[None]:
    """Within the block, facenet-pytorch's detect_face resizes with OpenCV (one detector per process, one
    thread detecting: the library reads the module-level function at each call)."""
    if not enabled:
        yield
        return
    detect_face_module.imresample = _opencv_area_resize
    try:
        yield
    finally:
        detect_face_module.imresample = _TORCH_IMRESAMPLE


def _to_detections(
    boxes: np.ndarray | None,
    probs: np.ndarray | None,
    points: np.ndarray | None,
    scale_xy: np.ndarray,
    frame_hw: tuple[int, int],
) -> FaceDetections:
    if boxes is None or points is None or probs is None or len(boxes) == 0:
        return FaceDetections.empty()
    found = FaceDetections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(probs, np.float32).reshape(-1).clip(0.0, 1.0),
        np.asarray(points, np.float32).reshape(-1, 5, 2),
    )
    return found.to_frame(scale_xy, 0.0, (frame_hw[1], frame_hw[0]))
