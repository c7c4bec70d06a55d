"""Detector speed and recall on the sample media.

Usage: python -m benchmarks.detector [--media DIR] [--frames N] [--repeats N] [--threads N]

First the backends (torch against openvino, default settings, batch 8) on the first 48 frames of each of
the four sample videos: ms per frame, faces found, and how well the openvino boxes match torch's (for each
torch box, the best IOU among the openvino boxes of the same frame: mean and minimum). Then ms per frame
on single_face.mp4 for each (batch, max_side_px, min_face_size) setting, then the number of faces found on
multi_face.jpg (5 faces) and t1.jpg (6 faces) for each resolution setting.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from services.common.boxes import iou_matrix
from services.detector.model import MtcnnDetector

GROUND_TRUTH = {"multi_face.jpg": 5, "t1.jpg": 6}


def read_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


def ms_per_frame(
    det: MtcnnDetector, frames: list[np.ndarray], batch: int, repeats: int
) -> tuple[float, float, float]:
    """Best-of-``repeats`` wall and process-CPU ms per frame over all frames, and mean faces per frame.

    The minimum over repeats, and CPU time beside wall time, keep the numbers meaningful on a shared machine.
    """
    det.detect(frames[:batch])
    walls, cpus = [], []
    faces = 0
    for _ in range(repeats):
        faces = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(frames), batch):
            faces += sum(len(d) for d in det.detect(frames[i : i + batch]))
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    n = len(frames)
    return 1000 * min(walls) / n, 1000 * min(cpus) / n, faces / n


def compare_backends(media: Path, repeats: int) -> None:
    names = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
    frames = [f for name in names for f in read_frames(media / name, 48)]
    found = {}
    for backend in ("torch", "openvino"):
        det = MtcnnDetector(device="cpu", backend=backend)
        wall, cpu, faces = ms_per_frame(det, frames, 8, repeats)
        found[backend] = [
            d.boxes_xyxy for i in range(0, len(frames), 8) for d in det.detect(frames[i : i + 8])
        ]
        print(
            f"backend {backend:<8} wall {wall:.1f} ms/frame, cpu {cpu:.1f} ms/frame, {faces:.2f} faces/frame"
        )
    ious = [
        float(row.max()) if row.size else 0.0
        for torch_boxes, ov_boxes in zip(found["torch"], found["openvino"], strict=True)
        for row in iou_matrix(torch_boxes, ov_boxes)
    ]
    print(
        f"openvino boxes against torch's: {len(ious)} faces, "
        f"IOU mean {np.mean(ious):.3f} min {min(ious):.3f}, "
        f"faces {sum(map(len, found['openvino']))} against {len(ious)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media"
    )
    parser.add_argument("--frames", type=int, default=72)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    compare_backends(args.media, args.repeats)
    frames = read_frames(args.media / "single_face.mp4", args.frames)
    print(
        f"torch={torch.__version__} threads={torch.get_num_threads()} frames={len(frames)} "
        f"size={frames[0].shape[1]}x{frames[0].shape[0]}"
    )
    print(f"{'max_side_px':>11} {'min_face':>8} {'batch':>5} {'wall ms/f':>9} {'cpu ms/f':>9} {'faces/f':>7}")
    for max_side, min_face, batch in itertools.product((640, 320), (20, 40), (1, 8)):
        det = MtcnnDetector(min_face_size=min_face, max_side_px=max_side, device="cpu", backend="torch")
        wall, cpu, faces = ms_per_frame(det, frames, batch, args.repeats)
        print(f"{max_side:>11} {min_face:>8} {batch:>5} {wall:>9.1f} {cpu:>9.1f} {faces:>7.2f}", flush=True)
    print(f"{'max_side_px':>11} {'min_face':>8} " + " ".join(f"{n:>14}" for n in GROUND_TRUTH))
    sides: tuple[int | None, ...] = (None, 1280, 640, 320)
    for side, min_face in itertools.product(sides, (20, 40)):
        det = MtcnnDetector(min_face_size=min_face, max_side_px=side, device="cpu", backend="torch")
        cells = []
        for name, truth in GROUND_TRUTH.items():
            path = args.media / name
            img = cv2.imread(str(path)) if path.exists() else None
            found = "absent" if img is None else f"{len(det.detect([img])[0])}/{truth}"
            cells.append(f"{found:>14}")
        print(f"{side!s:>11} {min_face:>8} " + " ".join(cells))


if __name__ == "__main__":
    main()
