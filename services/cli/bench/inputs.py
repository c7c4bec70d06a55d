"""What ``emostream bench`` runs on: the sample videos, the 2x2 mosaic, the models by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

SWIN_TINY = "swin-tiny-random"
#: The sample videos both modes use, in this order (cameras cycle through them).
BENCH_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
TILE_WH = (640, 360)


def swin_tiny(out_dir: Path) -> Path:
    """Write a full-size Swin-T image classifier with random weights (seed 0) and its image processor to
    ``out_dir`` (kept when already there); returns ``out_dir``."""
    if (out_dir / "config.json").is_file():
        return out_dir
    import torch
    from transformers import SwinConfig, SwinForImageClassification, ViTImageProcessor

    from services.common.labels import CANONICAL_LABELS

    torch.manual_seed(0)
    config = SwinConfig(
        num_labels=len(CANONICAL_LABELS),
        id2label=dict(enumerate(CANONICAL_LABELS)),
        label2id={label: i for i, label in enumerate(CANONICAL_LABELS)},
    )
    SwinForImageClassification(config).save_pretrained(out_dir)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(out_dir)
    return out_dir


def model_name(spec: str, work_dir: Path) -> str:
    """The name ``load_model`` takes for ``spec``: ``swin-tiny-random`` becomes a directory in
    ``work_dir``."""
    return str(swin_tiny(work_dir / SWIN_TINY)) if spec == SWIN_TINY else spec


def mosaic(videos: Sequence[Path], out: Path, frames: int) -> Path:
    """A 1280x720 video of ``frames`` frames: the first four ``videos`` as 640x360 tiles, each looping."""
    caps = [cv2.VideoCapture(str(v)) for v in videos[:4]]
    fps = caps[0].get(cv2.CAP_PROP_FPS) or 25.0
    w, h = TILE_WH
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (2 * w, 2 * h))
    try:
        for _ in range(frames):
            canvas = np.zeros((2 * h, 2 * w, 3), np.uint8)
            for i, cap in enumerate(caps):
                ok, img = cap.read()
                if not ok:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, img = cap.read()
                if ok:
                    y, x = divmod(i, 2)
                    canvas[y * h : (y + 1) * h, x * w : (x + 1) * w] = cv2.resize(img, (w, h))
            writer.write(canvas)
    finally:
        writer.release()
        for cap in caps:
            cap.release()
    return out
