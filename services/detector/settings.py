from __future__ import annotations

from pydantic import Field

from services.common.appearance import Kind as AppearanceKind
from services.common.settings import Backend, CommonSettings


class DetectorSettings(CommonSettings):
    min_face_size: int = Field(24, ge=8, description="MTCNN minimum face size, detection-image pixels")
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    min_score: float = Field(0.9, ge=0, le=1, description="faces below this confidence are dropped")
    min_size_px: float = Field(24, ge=0, description="faces whose shorter side is smaller are dropped")
    max_side_px: int = Field(640, ge=64, description="frames are downscaled to this longer side to detect")
    live_full_every: int = Field(
        5,
        ge=1,
        description="live frames: search the whole frame every N frames of a camera and, between, only "
        "around the faces found last, if any (1: every frame whole; file jobs always whole; "
        "docs/performance.md)",
    )
    crop_margin: float = Field(
        0.0, ge=0, le=1, description="margin around a face crop, fraction of box size (docs/classifier.md)"
    )
    align_faces: bool = Field(
        False, description="rotate each face crop so the eyes are level (benchmarks/classifier_crops.py)"
    )
    appearance: AppearanceKind = Field(
        "colour_texture", description="descriptor each face carries for re-identification (docs/tracking.md)"
    )
    device: str = Field("", description="torch device; empty: cuda when available, else cpu")
    backend: Backend = Field(
        "auto",
        description="MTCNN on 'openvino' (f32, CPU) or 'torch'; 'auto': openvino on CPU when installed",
    )
