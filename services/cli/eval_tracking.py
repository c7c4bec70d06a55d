"""Tracking accuracy on a clip with ground truth: IDF1, ID switches, recall, precision.

``emostream eval tracking --video V --gt GT.csv [--json] [--set NAME=VALUE ...] [--cache DIR]``

The video goes through the pipeline in-process, with the services' own stage code: the detector's MTCNN
and face crops (``services.detector.stage.faces_of_frame``), the classifier
(``services.classifier.stage.classify``) and the tracker (``TrackerHandler``: reordering,
``CameraTracker``, timelines), without Redis. ``GT.csv`` has the columns
``frame,gt_id,x1,y1,x2,y2`` (frames from 0, boxes in pixels). A track matches a ground-truth face at
IOU >= ``--iou`` (0.5); metrics are computed by ``motmetrics``. ``--set`` overrides a tracker setting
(``EMOSTREAM_*`` names without the prefix, e.g. ``--set motion=none``). ``--cache DIR`` keeps the
detector and classifier output of each video, so other tracker settings evaluate in a second.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

Box = tuple[float, float, float, float]
CAMERA = "eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--gt", type=Path, required=True, help="CSV: frame,gt_id,x1,y1,x2,y2")
    parser.add_argument("--iou", type=float, default=0.5, help="IOU for a track to match a face (0.5)")
    parser.add_argument(
        "--step",
        type=int,
        default=1,
        help="track every STEP-th frame, the others dropped with skip markers (live mode behind); 1",
    )
    add_common_arguments(parser)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="tracker setting (repeatable)"
    )
    parser.add_argument("--cache", type=Path, default=None, help="cache detector+classifier output here")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")


def settings_overrides(pairs: list[str]) -> dict[str, str]:
    """``["motion=none"]`` -> ``{"motion": "none"}``; raises ValueError on a pair without ``=``."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set needs NAME=VALUE, got {pair!r}")
        out[name.strip().lower()] = value.strip()
    return out


def read_video(video: Path) -> tuple[list[np.ndarray], float]:
    """All frames (BGR) and the frame rate; raises ValueError when the file has no readable frame."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise ValueError(f"no readable frame in {video}")
    return frames, fps


def emotions_of_video(video: Path, cache: Path | None = None, batch: int = 8) -> tuple[list[Any], float]:
    """Detect and classify every frame with the detector's and classifier's stage code.

    Returns ``(Emotions messages in frame order, fps)``. With ``cache``, results are stored under a key of
    the video's bytes and the detector/classifier settings, and reused.

    Long because: it drives the detector's and classifier's stage code frame by frame with their own batching
    and crops, as the services do, in one loop.
    """
    from services.classifier.settings import ClassifierSettings
    from services.common import codec
    from services.common.schema import Emotions, Frame
    from services.detector.settings import DetectorSettings

    det_settings, cls_settings = DetectorSettings(), ClassifierSettings()
    key = hashlib.sha256(
        video.read_bytes()
        + det_settings.model_dump_json(exclude={"instance"}).encode()
        + cls_settings.model_dump_json(exclude={"instance"}).encode()
    ).hexdigest()[:16]
    cached = cache / f"{video.stem}-{key}.msgpack" if cache is not None else None
    if cached is not None and cached.is_file():
        fps, rows = msgspec.msgpack.decode(cached.read_bytes())
        return [codec.decode(r) for r in rows], float(fps)

    import torch

    from services.classifier.loader import load_model
    from services.classifier.stage import classify
    from services.detector.model import MtcnnDetector
    from services.detector.stage import faces_of_frame

    torch.set_num_threads(det_settings.cpu_threads())
    frames, fps = read_video(video)
    detector = MtcnnDetector(
        min_face_size=det_settings.min_face_size,
        thresholds=det_settings.thresholds,
        max_side_px=det_settings.max_side_px,
        device=det_settings.device or None,
        backend=det_settings.backend,
    )
    model = load_model(cls_settings.model, device=cls_settings.device or None, backend=cls_settings.backend)
    h, w = frames[0].shape[:2]
    out: list[Any] = []
    t0 = int(time.time() * 1000)
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        found = detector.detect(chunk)
        msgs = [
            Frame(
                camera_id=CAMERA,
                seq=start + i,
                captured_ms=t0 + round((start + i) * 1000 / fps),
                mode="file",
                frame_key="",
                size_wh=(w, h),
            )
            for i in range(len(chunk))
        ]
        faces = [
            faces_of_frame(
                m,
                img,
                d,
                min_score=det_settings.min_score,
                min_size_px=det_settings.min_size_px,
                crop_margin=det_settings.crop_margin,
                align_faces=det_settings.align_faces,
                appearance=det_settings.appearance,
            )
            for m, img, d in zip(msgs, chunk, found, strict=True)
        ]
        for result in classify(faces, model, cls_settings.model):
            if not isinstance(result, Emotions):
                raise RuntimeError(f"classifier failed: {result}")
            out.append(result)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(msgspec.msgpack.encode([fps, [codec.encode(m) for m in out]]))
    return out, fps


def track_messages(
    emotions: list[Any],
    overrides: dict[str, str] | None = None,
    tracker_factory: Callable[[Any], Any] | None = None,
    step: int = 1,
) -> list[Any]:
    """Run Emotions messages through the tracker service's handler; returns the Tracks in seq order.

    ``tracker_factory`` replaces ``CameraTracker`` (the benchmark's old tracker); None uses the service's.
    ``step`` > 1 keeps every ``step``-th frame and replaces the others with the skip markers an upstream
    stage publishes for a dropped frame: what live mode sees when it falls behind.
    """
    from services.common.schema import Skip, Tracks
    from services.common.streams import Entry
    from services.tracker.service import TrackerHandler
    from services.tracker.settings import TrackerSettings

    settings = TrackerSettings(**overrides or {})  # type: ignore[arg-type]  # the pydantic plugin checks **kwargs of dict[str, object] against each field
    handler = TrackerHandler(settings, tracker_factory)
    out: list[Any] = []
    now = emotions[0].captured_ms if emotions else 0
    for i, msg in enumerate(emotions):
        if msg.seq % step:
            msg = Skip(
                camera_id=msg.camera_id,
                seq=msg.seq,
                captured_ms=msg.captured_ms,
                mode=msg.mode,
                stage="detector",
                reason="dropped",
            )
        batch = handler.handle([Entry(f"emo:emotions:{CAMERA}", f"{i}-0", msg)], now + i)
        out += [m for _, m in batch.outputs if isinstance(m, Tracks)]
    return sorted(out, key=lambda m: m.seq)


def read_gt(path: Path) -> dict[int, list[tuple[int, Box]]]:
    """``frame -> [(gt_id, box_xyxy)]``; raises ValueError on a missing column."""
    out: dict[int, list[tuple[int, Box]]] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"frame", "gt_id", "x1", "y1", "x2", "y2"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            box = (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]))
            out.setdefault(int(row["frame"]), []).append((int(row["gt_id"]), box))
    return out


def tracking_metrics(
    gt: dict[int, list[tuple[int, Box]]],
    hyp: dict[int, list[tuple[int, Box]]],
    frames: int,
    iou: float = 0.5,
    step: int = 1,
    detected: dict[int, list[Box]] | None = None,
) -> dict[str, float | int]:
    """IDF1, ID switches, recall, precision, MOTA, fragmentations, wrong merges and splits over frames
    ``0, step, 2 * step, ...`` below ``frames`` (motmetrics).

    A hypothesis may match a ground-truth box when their IOU is at least ``iou``. A wrong merge is a
    track id matched to a second (third, ...) person over the clip: one track that covered two people. A
    split is a person matched by a second (third, ...) track id: one person shown under two ids. With
    ``detected`` (frame -> the detector's boxes), ``detected_recall`` is the share of the ground-truth
    boxes the detector found (IOU >= ``iou``) that a track covers too: the tracker's own recall.
    """
    import motmetrics as mm

    from services.common.boxes import iou_matrix

    acc = mm.MOTAccumulator(auto_id=True)
    for f in range(0, frames, step):
        g, h = gt.get(f, []), hyp.get(f, [])
        ious = iou_matrix([b for _, b in g], [b for _, b in h])
        # motmetrics' own IOU helper uses np.asfarray, gone in numpy 2: we hand it distances directly
        dist = np.where(ious >= iou, 1.0 - ious, np.nan)
        acc.update([i for i, _ in g], [i for i, _ in h], dist)
    names = ["idf1", "num_switches", "recall", "precision", "mota", "num_fragmentations", "num_objects"]
    row = mm.metrics.create().compute(acc, metrics=names, name="clip").iloc[0]
    events = acc.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    people_per_track = matched.groupby("HId")["OId"].nunique()
    tracks_per_person = matched.groupby("OId")["HId"].nunique()
    extra: dict[str, float | int] = {}
    if detected is not None:
        extra["detected_recall"] = _detected_recall(gt, hyp, detected, frames, iou, step)
    return {
        "idf1": round(float(row["idf1"]), 4),
        "id_switches": int(row["num_switches"]),
        "recall": round(float(row["recall"]), 4),
        "precision": round(float(row["precision"]), 4),
        "mota": round(float(row["mota"]), 4),
        "fragmentations": int(row["num_fragmentations"]),
        "gt_boxes": int(row["num_objects"]),
        "wrong_merges": int((people_per_track - 1).clip(lower=0).sum()),
        "splits": int((tracks_per_person - 1).clip(lower=0).sum()),
        **extra,
    }


def _detected_recall(
    gt: dict[int, list[tuple[int, Box]]],
    hyp: dict[int, list[tuple[int, Box]]],
    detected: dict[int, list[Box]],
    frames: int,
    iou: float,
    step: int,
) -> float:
    """Of the ground-truth boxes some detection covers at ``iou``, the share some track covers too."""
    from services.common.boxes import iou_matrix

    found = covered = 0
    for f in range(0, frames, step):
        boxes = [b for _, b in gt.get(f, [])]
        if not boxes:
            continue
        by_det = iou_matrix(boxes, detected.get(f, [])).max(axis=1, initial=0.0) >= iou
        by_track = iou_matrix(boxes, [b for _, b in hyp.get(f, [])]).max(axis=1, initial=0.0) >= iou
        found += int(by_det.sum())
        covered += int((by_det & by_track).sum())
    return round(covered / found, 4) if found else 1.0


def hyp_of(tracks: list[Any]) -> dict[int, list[tuple[int, Box]]]:
    return {m.seq: [(t.track_id, t.box_xyxy) for t in m.tracks] for m in tracks}


def evaluate(
    video: Path,
    gt_path: Path,
    overrides: dict[str, str] | None = None,
    cache: Path | None = None,
    iou: float = 0.5,
    tracker_factory: Callable[[Any], Any] | None = None,
    step: int = 1,
) -> dict[str, Any]:
    """Track ``video`` (every ``step``-th frame, skip markers between) and score it against ``gt_path``."""
    emotions, _ = emotions_of_video(video, cache)
    tracks = track_messages(emotions, overrides, tracker_factory, step)
    detected = {m.seq: [f.box_xyxy for f in m.faces] for m in emotions}
    result = tracking_metrics(read_gt(gt_path), hyp_of(tracks), len(emotions), iou, step, detected)
    ids = {t.track_id for m in tracks for t in m.tracks}
    return {"video": str(video), "frames": len(emotions), "track_ids": len(ids), **result}


def run(args: argparse.Namespace) -> int:
    try:
        overrides = settings_overrides(args.set)
        if not args.video.is_file() or not args.gt.is_file():
            raise ValueError(f"no such file: {args.video if not args.video.is_file() else args.gt}")
        if args.step < 1:
            raise ValueError(f"--step must be at least 1, got {args.step}")
        result = evaluate(args.video, args.gt, overrides, args.cache, args.iou, step=args.step)
    except ValueError as exc:
        print(f"emostream eval tracking: {exc}")
        return 2
    print(
        f"{args.video.name}: IDF1 {result['idf1']:.3f}, ID switches {result['id_switches']}, "
        f"wrong merges {result['wrong_merges']}, splits {result['splits']}, recall {result['recall']:.3f} "
        f"({result['detected_recall']:.3f} of what the detector found), "
        f"precision {result['precision']:.3f}, MOTA {result['mota']:.3f}, "
        f"{result['track_ids']} track ids over {result['frames']} frames"
    )
    if args.json:
        print(json.dumps(result))
    return 0
