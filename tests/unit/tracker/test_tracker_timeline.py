"""Timelines (live key and timeline.json: one format) and the stability metrics of eval stability."""

from __future__ import annotations

import json

import msgspec
import pytest

from services.cli.eval_stability import track_stability, window_majority
from services.cli.eval_tracking import settings_overrides, tracking_metrics
from services.common.job_journal import JobResult
from services.common.schema import Message, Skip, Track, Tracks
from services.common.timeline import TrackSegments, encode_tracks, read_timeline, read_tracks, video_timeline
from services.tracker.stage import TrackView
from services.tracker.timeline import CameraTimeline


def view(track_id: int, label: str, p: float = 0.6) -> TrackView:
    return TrackView(track_id, (0, 0, 10, 10), label, p, label, {label: p, "other": 1 - p}, 1, 0)


def test_timeline_segments_split_on_label_change_and_round_trip() -> None:
    tl = CameraTimeline("cam", max_segments=10, keep_ms=1000)
    for seq, label in enumerate(["happy", "happy", "sad", "sad", "sad", "happy"]):
        tl.record(seq, 1000 + 40 * seq, [view(1, label)])
    doc = tl.to_json()
    (track,) = doc["tracks"]
    assert [(s["label"], s["start_seq"], s["end_seq"], s["frames"]) for s in track["segments"]] == [
        ("happy", 0, 1, 2),
        ("sad", 2, 4, 3),
        ("happy", 5, 5, 1),
    ]
    assert track["segments"][1]["start_ms"] == 1080 and track["segments"][1]["end_ms"] == 1160
    assert track["segments"][0]["mean_probs"] == {"happy": 0.6, "other": 0.4}
    back = CameraTimeline.from_json(json.loads(json.dumps(doc)), 10, 1000)
    back.record(6, 1240, [view(1, "happy")])
    assert back.to_json()["tracks"][0]["segments"][-1]["frames"] == 2


@pytest.mark.parametrize(("max_segments", "kept"), [(1, ["b"]), (2, ["a", "b"]), (5, ["a", "b"])])
def test_timeline_keeps_the_last_segments(max_segments: int, kept: list[str]) -> None:
    tl = CameraTimeline("cam", max_segments=max_segments)
    tl.record(0, 0, [view(1, "a")])
    tl.record(1, 40, [view(1, "b")])
    assert [s["label"] for s in tl.to_json()["tracks"][0]["segments"]] == kept


@pytest.mark.parametrize(("now_ms", "tracks"), [(1500, [1, 2]), (2100, [2]), (3100, [])])
def test_timeline_forgets_tracks_not_seen_recently(now_ms: int, tracks: list[int]) -> None:
    tl = CameraTimeline("cam", keep_ms=1000)
    tl.record(0, 1000, [view(1, "a"), view(2, "a")])
    tl.record(1, 2000, [view(2, "a")])
    tl.prune(now_ms)
    assert [t["track_id"] for t in tl.to_json()["tracks"]] == tracks


LIVE_SEGMENT_KEYS = {"label", "start_seq", "end_seq", "start_ms", "end_ms", "frames", "mean_probs"}


def test_the_live_document_keeps_its_shape() -> None:
    tl = CameraTimeline("cam")
    tl.record(7, 1000, [view(2, "happy")])
    doc = tl.to_json()
    assert doc == {
        "camera_id": "cam",
        "version": 1,
        "tracks": [
            {
                "track_id": 2,
                "last_seq": 7,
                "last_ms": 1000,
                "probs": {"happy": 0.6, "other": 0.4},
                "segments": [
                    {"label": "happy", "start_seq": 7, "end_seq": 7, "start_ms": 1000, "end_ms": 1000}
                    | {"frames": 1, "mean_probs": {"happy": 0.6, "other": 0.4}}
                ],
            }
        ],
    }
    assert set(doc["tracks"][0]["segments"][0]) == LIVE_SEGMENT_KEYS, "no video time on a live camera"
    # the UI reads the tracks of either document with the same structs
    assert read_timeline(json.dumps(doc)).tracks == tuple(read_tracks(json.dumps(doc["tracks"])))


@pytest.mark.parametrize(
    "doc",
    [
        {"tracks": []},
        {"camera_id": "cam", "tracks": [{"track_id": "x", "segments": []}]},
        {"camera_id": "cam", "tracks": [{"track_id": 1, "last_seq": 0, "last_ms": 0, "probs": {}}]},
    ],
)
def test_a_malformed_live_document_is_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CameraTimeline.from_json(doc)


def tracks_msg(seq: int, *labels: tuple[int, str]) -> Tracks:
    return Tracks(
        camera_id="c",
        seq=seq,
        captured_ms=1000 + 40 * seq,
        frame_key="",
        size_wh=(10, 10),
        tracks=tuple(
            Track(
                track_id=t, box_xyxy=(0, 0, 1, 1), label=lab, confidence=0.5, raw_label=lab, probs={lab: 1.0}
            )
            for t, lab in labels
        ),
    )


def test_timeline_json_of_a_file_job() -> None:
    frames: dict[int, Message] = {
        0: tracks_msg(0, (1, "sad")),
        1: tracks_msg(1, (1, "sad"), (2, "happy")),
        2: Skip(camera_id="c", seq=2, captured_ms=0, stage="detector", reason="x"),
        3: tracks_msg(3, (1, "happy"), (2, "happy")),
    }
    tracks = video_timeline(JobResult(frames=frames), fps=10.0)
    raw = encode_tracks(tracks)
    doc = json.loads(raw)

    def seg(label: str, start: int, end: int, frames: int) -> dict[str, object]:
        return {
            "label": label,
            "start_seq": start,
            "end_seq": end,
            "start_ms": 1000 + 40 * start,
            "end_ms": 1000 + 40 * end,
            "frames": frames,
            "mean_probs": {label: 1.0},
            "start_s": start / 10,
            "end_s": end / 10,
        }

    assert doc == [
        {
            "track_id": 1,
            "last_seq": 3,
            "last_ms": 1120,
            "probs": {"happy": 1.0},
            "segments": [seg("sad", 0, 1, 2), seg("happy", 3, 3, 1)],
        },
        {
            "track_id": 2,
            "last_seq": 3,
            "last_ms": 1120,
            "probs": {"happy": 1.0},
            "segments": [seg("happy", 1, 3, 2)],
        },
    ]
    assert tuple(read_tracks(raw)) == tracks, "timeline.json reads back into the same structs"
    with pytest.raises(msgspec.ValidationError):
        read_tracks(json.dumps([{"track_id": 1, "segments": []}]))
    assert all(isinstance(t, TrackSegments) for t in tracks)


def test_track_stability_counts_changes_dwell_and_delay() -> None:
    leader = list("aaabbbbbbb")
    shown = list("aaaaabbbbb")  # follows b two frames after it took the lead
    raw = list("aababbbabb")
    r = track_stability(shown, raw, leader, fps=60.0)  # 10 frames = 1/6 s = 1/360 min
    assert (r["shown_changes"], r["raw_changes"]) == (1, 5)
    assert r["shown_changes_per_min"] == pytest.approx(1 * 360)
    assert r["raw_changes_per_min"] == pytest.approx(5 * 360)
    assert r["switch_delay_frames"] == [2]
    assert r["mean_dwell_s"] == pytest.approx(10 / 60 / 2, abs=1e-3)
    assert r["follows_leader"] == pytest.approx(0.8)


@pytest.mark.parametrize(("shown", "raw", "leader", "fps"), [("ab", "a", "ab", 25.0), ("a", "a", "a", 0.0)])
def test_track_stability_rejects_bad_input(shown: str, raw: str, leader: str, fps: float) -> None:
    with pytest.raises(ValueError):
        track_stability(list(shown), list(raw), list(leader), fps)


def test_window_majority() -> None:
    assert window_majority(list("aabaa"), 1) == list("aaaaa")
    assert window_majority(list("aabbb"), 1) == list("aabbb")


def test_settings_overrides() -> None:
    assert settings_overrides(["motion=none", "MAX_AGE = 5"]) == {"motion": "none", "max_age": "5"}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        settings_overrides(["motion"])


def box(x: float) -> tuple[float, float, float, float]:
    return (x, 0.0, x + 10, 10.0)


def test_tracking_metrics_count_a_switch_and_misses() -> None:
    gt = {f: [(1, box(0)), (2, box(50))] for f in range(4)}
    hyp = {
        0: [(7, box(0)), (8, box(50))],
        1: [(7, box(0)), (8, box(50))],
        2: [(9, box(0)), (8, box(50))],  # face 1 gets a new id: one switch
        3: [(9, box(0))],  # face 2 missed
    }
    m = tracking_metrics(gt, hyp, frames=4)
    assert m["id_switches"] == 1
    assert m["recall"] == pytest.approx(7 / 8)
    assert m["precision"] == pytest.approx(1.0)
    # best one-to-one id mapping: 1->7 (2 frames) or 1->9 (2), 2->8 (3): IDTP 5 of 8 gt and 7 hyp boxes
    assert m["idf1"] == pytest.approx(2 * 5 / (8 + 7), abs=1e-4)
