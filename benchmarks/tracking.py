"""Tracking and smoothing measurements behind docs/tracking.md.

Usage: python -m benchmarks.tracking [--media DIR] [--out DIR] [--cache DIR] [--part ids|boxes|labels|all]
       [--stability-video PATH]

- ids: IDF1 / ID switches / recall / precision on the synthetic clips (tests/support/clips.py: a crossing,
  an occlusion, faces entering and leaving) for the original project's tracker (greedy IOU on the last
  box, EMA 0.3, max_age 10) and the new one (defaults), plus the new one without motion prediction.
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
from services.cli.eval_tracking import emotions_of_video, evaluate, read_gt, track_messages
from services.tracker.association import iou_matrix
from services.tracker.stage import CameraTracker, TrackerConfig
from tests.support import clips

ORIGINAL = {
    "motion": "none",
    "box_filter": "ema",
    "box_alpha": "0.3",
    "max_age_frames": "10",
    "iou_threshold": "0.4",
}


class GreedyTracker(CameraTracker):
    """The original project's association: greedy IOU on each track's last box, no motion model."""

    def _match(self, seq: int, boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
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


def ids_part(media: Path, out: Path, cache: Path) -> list[dict[str, Any]]:
    rows = []
    variants: list[tuple[str, dict[str, str], Any]] = [
        ("original (greedy IOU, EMA, max_age 10)", ORIGINAL, greedy_factory),
        ("new, no motion model", {"motion": "none"}, None),
        ("new (defaults)", {}, None),
    ]
    for name, make in clips.TRACKING_CLIPS.items():
        video, gt = clips.build(make(), media, out)
        for label, overrides, factory in variants:
            r = evaluate(video, gt, overrides, cache, tracker_factory=factory)
            rows.append({"clip": name, "tracker": label, **r})
            print(
                f"{name:12s} {label:40s} IDF1 {r['idf1']:.3f}  ID sw {r['id_switches']:2d}  "
                f"recall {r['recall']:.3f}  precision {r['precision']:.3f}  ids {r['track_ids']}"
            )
    return rows


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--media", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "media"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/emostream-bench/clips"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/emostream-bench/cache"))
    parser.add_argument("--part", choices=["ids", "boxes", "labels", "all"], default="all")
    parser.add_argument(
        "--stability-video", type=Path, default=None, help="default: MEDIA/WolfgangLanger_Pexels.mp4"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.media.is_dir():
        from services.cli.samples import ensure_samples

        args.media = ensure_samples()
    result: dict[str, Any] = {}
    if args.part in ("ids", "all"):
        result["ids"] = ids_part(args.media, args.out, args.cache)
    if args.part in ("boxes", "all"):
        result["boxes"] = boxes_part(args.media, args.out, args.cache)
    if args.part in ("labels", "all"):
        video = args.stability_video or args.media / "WolfgangLanger_Pexels.mp4"
        result["labels"] = labels_part(video, args.cache)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
