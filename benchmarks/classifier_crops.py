"""Which face crops help the classifier: margin around the MTCNN box, eye alignment, flip TTA.

Usage: python -m benchmarks.classifier_crops [--data DIR] [--limit N] [--model M] [--media DIR] [--threads N]

FER2013 images are already tight face crops, so each is upscaled (``--upscale``, default 4x: 192 px) and
padded by a quarter of its side (border replicated) before MTCNN runs on it; the crop the live detector
would cut (margin, alignment) then goes through the classifier. Prints the accuracy per setting on the
images where MTCNN found a face, beside the accuracy on the original image (what ``eval`` measures), each
without and with flip test-time averaging. Then the same settings on the labelled sample stills.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np
import torch

from services.classifier.evaluate import labelled_files, read_image, stratified_subset
from services.classifier.loader import load_model
from services.classifier.model import MiniXceptionModel
from services.common.labels import CANONICAL_LABELS
from services.detector.model import MtcnnDetector
from services.detector.stage import crop_aligned, crop_with_margin

MARGINS = (0.0, 0.1, 0.2, 0.3, 0.4)
STILLS = {
    "0-f1-su-ph.jpg": "surprise",
    "0-f15-hao-ph.jpg": "happy",
    "15-f13-anc-ph.jpg": "angry",
    "45-m7-di-ph.jpg": "disgust",
}


def cut(image: np.ndarray, box: np.ndarray, marks: np.ndarray, margin: float, align: bool) -> np.ndarray:
    return crop_aligned(image, box, marks, margin) if align else crop_with_margin(image, box, margin)


def main() -> None:
    root = Path(__file__).resolve().parents[2] / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=root / "data" / "fer2013" / "publictest")
    parser.add_argument("--limit", type=int, default=1200)
    parser.add_argument("--upscale", type=int, default=4)
    parser.add_argument("--model", default="mini-xception")
    parser.add_argument("--media", type=Path, default=root / "media")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--video", default="WolfgangLanger_Pexels.mp4", help="unlabelled video in --media")
    parser.add_argument("--video-frames", type=int, default=240)
    parser.add_argument("--only-video", action="store_true", help="skip FER2013 and the stills")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device="cpu")
    assert isinstance(model, MiniXceptionModel), "flip TTA is switched here on mini-Xception models only"
    detector = MtcnnDetector(min_face_size=20, max_side_px=None, device="cpu")
    if args.only_video:
        video_stability(model, args.media / args.video, args.video_frames)
        return

    files = stratified_subset(labelled_files(args.data, CANONICAL_LABELS), args.limit)
    items = [(p, CANONICAL_LABELS.index(label)) for label, paths in files.items() for p in paths]
    originals = [read_image(p) for p, _ in items]
    truth = np.array([y for _, y in items])
    side = originals[0].shape[0] * args.upscale
    pad = side // 4
    big = [
        cv2.copyMakeBorder(
            cv2.resize(img, (side, side), interpolation=cv2.INTER_CUBIC),
            pad,
            pad,
            pad,
            pad,
            cv2.BORDER_REPLICATE,
        )
        for img in originals
    ]
    found: list[tuple[int, np.ndarray, np.ndarray]] = []
    for start in range(0, len(big), 32):
        for i, dets in enumerate(detector.detect(big[start : start + 32]), start):
            if len(dets):
                best = int(dets.scores.argmax())
                found.append((i, dets.boxes_xyxy[best], dets.landmarks_xy[best]))
    idx = np.array([i for i, _, _ in found])
    print(f"model={args.model} n={len(items)} mtcnn_found={len(found)} ({len(found) / len(items):.1%})")

    def accuracy(crops: list[np.ndarray], labels: np.ndarray) -> tuple[float, float]:
        scores = []
        for tta in (False, True):
            model.flip_tta = tta
            scores.append(float((model.predict(crops).argmax(1) == labels).mean()))
        return scores[0], scores[1]

    print(f"{'crop':<28} {'acc':>7} {'acc+flip':>8}")
    plain, tta = accuracy(originals, truth)
    print(f"{'original 48px, all images':<28} {plain:>7.4f} {tta:>8.4f}")
    plain, tta = accuracy([originals[i] for i in idx], truth[idx])
    print(f"{'original 48px, found only':<28} {plain:>7.4f} {tta:>8.4f}")
    for align, margin in itertools.product((False, True), MARGINS):
        crops = [cut(big[i], box, marks, margin, align) for i, box, marks in found]
        plain, tta = accuracy(crops, truth[idx])
        print(f"{f'margin {margin:.1f} align {align!s:<5}':<28} {plain:>7.4f} {tta:>8.4f}", flush=True)

    print("labelled stills: p(true label) per setting, * where it is the top label")
    stills: dict[str, np.ndarray] = {}
    for name in STILLS:
        still = cv2.imread(str(args.media / name))
        if still is not None:
            stills[name] = still
    print(f"{'crop':<28} " + " ".join(f"{name[:12]:>13}" for name in stills))
    for tta, align, margin in itertools.product((False, True), (False, True), MARGINS):
        model.flip_tta = tta
        cells = []
        for name, img in stills.items():
            dets = detector.detect([img])[0]
            if not len(dets):
                cells.append(f"{'no face':>13}")
                continue
            best = int(dets.scores.argmax())
            probs = model.predict([cut(img, dets.boxes_xyxy[best], dets.landmarks_xy[best], margin, align)])[
                0
            ]
            k = CANONICAL_LABELS.index(STILLS[name])
            cells.append(f"{probs[k]:>12.3f}{'*' if probs.argmax() == k else ' '}")
        label = f"margin {margin:.1f} align {align!s:<5} flip {tta!s:<5}"
        print(f"{label:<28} " + " ".join(cells), flush=True)
    video_stability(model, args.media / args.video, args.video_frames)


def video_stability(model: MiniXceptionModel, path: Path, n_frames: int) -> None:
    """Unlabelled video: how often the top label changes between consecutive frames, per crop setting.

    The face moves and changes expression, so this is no accuracy; a crop that makes the model jump
    between labels from frame to frame, with the same face, shows here as a higher change rate.
    """
    detector = MtcnnDetector(min_face_size=20, max_side_px=640, device="cpu")
    cap = cv2.VideoCapture(str(path))
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    frames = 0
    while frames < n_frames:
        ok, img = cap.read()
        if not ok:
            break
        frames += 1
        dets = detector.detect([img])[0]
        if len(dets):
            best = int(dets.scores.argmax())
            found.append((img, dets.boxes_xyxy[best], dets.landmarks_xy[best]))
    cap.release()
    print(f"video {path.name}: {frames} frames, a face in {len(found)}")
    print(f"{'crop':<36} {'label changes/frame':>19} {'mean top prob':>13}  top labels")
    for tta, align, margin in itertools.product((False, True), (False, True), (0.0, 0.1, 0.2, 0.4)):
        model.flip_tta = tta
        probs = model.predict([cut(img, box, marks, margin, align) for img, box, marks in found])
        top = probs.argmax(1)
        changes = float((top[1:] != top[:-1]).mean()) if len(top) > 1 else 0.0
        counts = np.bincount(top, minlength=len(CANONICAL_LABELS))
        shares = " ".join(f"{CANONICAL_LABELS[k]} {c / len(top):.2f}" for k, c in enumerate(counts) if c)
        label = f"margin {margin:.1f} align {align!s:<5} flip {tta!s:<5}"
        print(f"{label:<36} {changes:>19.3f} {probs.max(1).mean():>13.3f}  {shares}", flush=True)


if __name__ == "__main__":
    main()
