"""The model paths on one device against fp32 PyTorch on the CPU: the same faces, the same emotions.

Usage: python -m benchmarks.device_check [--device cuda] [--media DIR]

MTCNN on ``--device`` (its default backend there) against MTCNN in fp32 torch on the CPU, on 24 frames of
``WolfgangLanger_Pexels.mp4`` and on ``multi_face.jpg``; then the default classifier and a full-size
Swin-T (random weights; fp16 on CUDA) on the CPU-found face crops. Prints the face counts, the worst box
IOU, the largest probability difference and the argmax agreement, and exits 1 when the faces differ or
a probability differs by more than 0.02. On a GPU machine it is the CUDA test; with ``--device cpu`` it
checks the CPU's default backend (OpenVINO) the same way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from services.classifier.loader import DEFAULT_MODEL, load_model
from services.cli.bench import model_name
from services.common.boxes import iou_matrix
from services.detector.model import MtcnnDetector
from services.detector.stage import crop_with_margin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.device_check", description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--media", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.media is None:
        from services.cli.samples import ensure_samples

        args.media = ensure_samples()
    cap = cv2.VideoCapture(str(args.media / "WolfgangLanger_Pexels.mp4"))
    frames = [cap.read()[1] for _ in range(24)]
    cap.release()
    frames.append(cv2.imread(str(args.media / "multi_face.jpg")))
    reference = MtcnnDetector(device="cpu", backend="torch").detect(frames)
    found = MtcnnDetector(device=args.device).detect(frames)
    ok = True
    worst = 1.0
    for ref, got in zip(reference, found, strict=True):
        ok &= len(ref) == len(got)
        for row in iou_matrix(ref.boxes_xyxy, got.boxes_xyxy):
            worst = min(worst, float(row.max()) if row.size else 0.0)
    faces_ref, faces_got = sum(map(len, reference)), sum(map(len, found))
    print(f"detector on {args.device}: {faces_got} faces (cpu fp32: {faces_ref}), worst IOU {worst:.3f}")
    ok &= worst > 0.8
    crops = [
        crop_with_margin(frame, box, 0.0)
        for frame, dets in zip(frames, reference, strict=True)
        for box in dets.boxes_xyxy
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for spec in (DEFAULT_MODEL, "swin-tiny-random"):
            name = model_name(spec, Path(tmp))
            ref_probs = load_model(name, device="cpu", backend="torch").predict(crops)
            probs = load_model(name, device=args.device).predict(crops)
            diff = float(np.abs(probs - ref_probs).max())
            same = float((probs.argmax(1) == ref_probs.argmax(1)).mean())
            print(
                f"classifier {spec} on {args.device}: max |dp| {diff:.4f}, "
                f"same argmax {same:.1%} ({len(crops)} faces)"
            )
            ok &= diff <= 0.02
    print("device check:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
