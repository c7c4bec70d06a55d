"""Label stability per track: changes per minute of the shown and the raw label, dwell time, switch delay.

``emostream eval stability --video V [--json] [--set NAME=VALUE ...] [--cache DIR] [--min-frames N]``

The video goes through the same in-process pipeline as ``eval tracking`` (the services' detector,
classifier and tracker stage code). Per track (seen in at least ``--min-frames`` frames):

- ``shown_changes_per_min`` / ``raw_changes_per_min``: changes of the shown (hysteresis) label and of the
  raw per-frame argmax, per minute of the track's frames;
- ``mean_dwell_s``: mean length of the shown label's segments;
- ``switch_delay_frames``: for each change of the shown label, the frames since the new label became the
  leader of the smoothed probabilities (and stayed it) — the price of hysteresis;
- ``follows_leader``: share of frames whose shown label is the smoothed probabilities' leader;
- ``shown_segments``: ``[label, first seq, last seq]`` of each run of the shown label;
- ``agrees_with_majority``: share of frames whose shown label is the most frequent raw argmax of the track
  within ``--window-s`` (1 s) centred on the frame: does the steady label still follow the expression?
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.cli.eval_tracking import add_common_arguments, settings_overrides


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--min-frames", type=int, default=10, help="ignore tracks seen in fewer frames")
    parser.add_argument("--window-s", type=float, default=1.0, help="window of the raw-label majority (1 s)")
    add_common_arguments(parser)


def _changes(labels: Sequence[str]) -> int:
    return sum(1 for a, b in zip(labels, labels[1:], strict=False) if a != b)


def window_majority(raw: Sequence[str], half: int) -> list[str]:
    """Per frame, the most frequent label within ``half`` frames either side (ties: the earliest seen)."""
    out = []
    for i in range(len(raw)):
        window = list(raw[max(0, i - half) : i + half + 1])
        out.append(max(dict.fromkeys(window), key=window.count))
    return out


def track_stability(
    shown: Sequence[str], raw: Sequence[str], leader: Sequence[str], fps: float, window_s: float = 1.0
) -> dict[str, Any]:
    """Stability of one track from its per-frame shown label, raw argmax and smoothed leader.

    The three sequences have one entry per frame the track was published in, in order; ``fps`` converts
    frames to time; ``window_s`` is the window of the raw majority. Raises ValueError when the lengths
    differ or ``fps`` is not positive.
    """
    if not len(shown) == len(raw) == len(leader):
        raise ValueError(f"sequences differ in length: {len(shown)}, {len(raw)}, {len(leader)}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    n = len(shown)
    minutes = n / fps / 60 if n else 0.0
    delays: list[int] = []
    run_start = 0  # first frame of the current run of the same leader
    segments = 1 if n else 0
    for i in range(1, n):
        if leader[i] != leader[i - 1]:
            run_start = i
        if shown[i] != shown[i - 1]:
            segments += 1
            if leader[i] == shown[i]:
                delays.append(i - run_start)
    shown_changes, raw_changes = _changes(shown), _changes(raw)
    majority = window_majority(raw, round(window_s * fps / 2))
    agree = sum(1 for s, m in zip(shown, majority, strict=True) if s == m) / n if n else 0.0
    return {
        "frames": n,
        "duration_s": round(n / fps, 3),
        "shown_changes": shown_changes,
        "raw_changes": raw_changes,
        "shown_changes_per_min": round(shown_changes / minutes, 2) if minutes else 0.0,
        "raw_changes_per_min": round(raw_changes / minutes, 2) if minutes else 0.0,
        "mean_dwell_s": round(n / fps / segments, 3) if segments else 0.0,
        "switch_delay_frames": delays,
        "mean_switch_delay_frames": round(sum(delays) / len(delays), 2) if delays else None,
        "follows_leader": round(sum(1 for s, ld in zip(shown, leader, strict=True) if s == ld) / n, 4)
        if n
        else 0.0,
        "agrees_with_majority": round(agree, 4),
    }


def stability(tracks: list[Any], fps: float, min_frames: int = 10, window_s: float = 1.0) -> dict[str, Any]:
    """Per-track stability (see the module docstring) of Tracks messages, and totals over all tracks."""
    from services.tracker.smoothing import argmax_label

    per: dict[int, tuple[list[str], list[str], list[str]]] = {}
    segments: dict[int, list[list[Any]]] = {}  # track -> [[shown label, first seq, last seq]]
    for msg in sorted(tracks, key=lambda m: m.seq):
        for t in msg.tracks:
            shown, raw, leader = per.setdefault(t.track_id, ([], [], []))
            shown.append(t.label)
            raw.append(t.raw_label)
            leader.append(argmax_label(t.probs, prefer=t.label))
            segs = segments.setdefault(t.track_id, [])
            if segs and segs[-1][0] == t.label:
                segs[-1][2] = msg.seq
            else:
                segs.append([t.label, msg.seq, msg.seq])
    rows = {
        tid: {**track_stability(*seqs, fps, window_s), "shown_segments": segments[tid]}
        for tid, seqs in sorted(per.items())
        if len(seqs[0]) >= min_frames
    }
    frames = sum(r["frames"] for r in rows.values())
    minutes = frames / fps / 60 if frames else 0.0
    shown = sum(r["shown_changes"] for r in rows.values())
    raw = sum(r["raw_changes"] for r in rows.values())
    delays = [d for r in rows.values() for d in r["switch_delay_frames"]]
    total = {
        "frames": frames,
        "shown_changes_per_min": round(shown / minutes, 2) if minutes else 0.0,
        "raw_changes_per_min": round(raw / minutes, 2) if minutes else 0.0,
        "raw_to_shown_ratio": round(raw / shown, 2) if shown else None,
        "mean_switch_delay_frames": round(sum(delays) / len(delays), 2) if delays else None,
        "mean_switch_delay_s": round(sum(delays) / len(delays) / fps, 3) if delays else None,
        "follows_leader": _weighted(rows, "follows_leader", frames),
        "agrees_with_majority": _weighted(rows, "agrees_with_majority", frames),
    }
    return {"fps": round(fps, 3), "tracks": {str(k): v for k, v in rows.items()}, "total": total}


def _weighted(rows: dict[int, dict[str, Any]], name: str, frames: int) -> float:
    return round(sum(r[name] * r["frames"] for r in rows.values()) / frames, 4) if frames else 0.0


def run(args: argparse.Namespace) -> int:
    from services.cli.eval_tracking import emotions_of_video, track_messages

    try:
        overrides = settings_overrides(args.set)
        if not args.video.is_file():
            raise ValueError(f"no such file: {args.video}")
        emotions, fps = emotions_of_video(args.video, args.cache)
    except ValueError as exc:
        print(f"emostream eval stability: {exc}")
        return 2
    result = {
        "video": str(args.video),
        **stability(track_messages(emotions, overrides), fps, args.min_frames, args.window_s),
    }
    for tid, r in result["tracks"].items():
        print(
            f"track {tid}: {r['frames']} frames, shown {r['shown_changes_per_min']}/min, "
            f"raw {r['raw_changes_per_min']}/min, mean dwell {r['mean_dwell_s']} s, "
            f"switch delay {r['mean_switch_delay_frames']} frames, follows leader {r['follows_leader']:.0%}, "
            f"agrees with the {args.window_s:g} s raw majority {r['agrees_with_majority']:.0%}"
        )
        print("  shown: " + ", ".join(f"{lab} {a}-{b}" for lab, a, b in r["shown_segments"]))
    t = result["total"]
    print(
        f"total: shown {t['shown_changes_per_min']}/min vs raw {t['raw_changes_per_min']}/min "
        f"(ratio {t['raw_to_shown_ratio']}), switch delay {t['mean_switch_delay_frames']} frames "
        f"({t['mean_switch_delay_s']} s), agrees with the raw majority {t['agrees_with_majority']:.1%}"
    )
    if args.json:
        print(json.dumps(result))
    return 0
