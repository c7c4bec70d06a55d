"""CameraEvents: which events a camera's tracks make, their ids, and their state across a checkpoint."""

from __future__ import annotations

import pytest

from services.common.schema import End, Skip, Track, Tracks
from services.events.stage import CameraEvents, EventsConfig

CAM = "cam"
FPS_MS = 100  # 10 fps


def tracks(seq: int, *faces: tuple[int, str], mode: str = "live") -> Tracks:
    return Tracks(
        camera_id=CAM,
        seq=seq,
        captured_ms=1_000_000 + seq * FPS_MS,
        mode=mode,  # type: ignore[arg-type]
        frame_key="f",
        size_wh=(640, 360),
        tracks=tuple(
            Track(
                track_id=tid,
                box_xyxy=(10.0 * tid, 0.0, 10.0 * tid + 50, 50.0),
                label=label,
                confidence=0.8,
                raw_label=label,
                probs={label: 0.8},
            )
            for tid, label in faces
        ),
    )


def kinds(events: list) -> list[tuple[str, int]]:  # type: ignore[type-arg]
    return [(e.kind, e.track_id) for e in events]


def run(cam: CameraEvents, frames: list[Tracks | Skip | End]) -> list:  # type: ignore[type-arg]
    return [e for f in frames for e in cam.apply(f)]


def test_a_track_starts_changes_and_ends_with_its_summary() -> None:
    cam = CameraEvents(CAM, EventsConfig(end_after_s=1.0))
    frames = [tracks(s, (1, "neutral")) for s in range(10)] + [tracks(s, (1, "happy")) for s in range(10, 30)]
    frames += [tracks(s) for s in range(30, 45)]  # gone: 1.5 s later it has ended
    events = run(cam, frames)
    assert kinds(events) == [("track_started", 1), ("label_changed", 1), ("track_ended", 1)]
    started, changed, ended = events
    assert (started.label, started.seq, started.event_id) == ("neutral", 0, "cam:1:track_started:1")
    assert (changed.previous, changed.label, changed.dwell_s, changed.seq) == ("neutral", "happy", 1.0, 10)
    assert ended.label == "happy", "the label it showed most"
    assert ended.duration_s == 2.9 and ended.labels_s == {"neutral": 1.0, "happy": 1.9}
    assert ended.seq == 40, "ended in the first frame more than end_after_s after it was last seen"


def test_label_held_fires_once_per_run_of_a_held_label() -> None:
    cam = CameraEvents(CAM, EventsConfig(held_labels=("angry",), held_s=2.0))
    frames = [tracks(s, (1, "angry")) for s in range(50)]  # 4.9 s angry
    frames += [tracks(s, (1, "happy")) for s in range(50, 60)]
    frames += [tracks(s, (1, "angry")) for s in range(60, 90)]
    events = run(cam, frames)
    held = [e for e in events if e.kind == "label_held"]
    assert [(e.seq, e.dwell_s, e.event_id) for e in held] == [
        (20, 2.0, "cam:1:label_held:1"),
        (80, 2.0, "cam:1:label_held:2"),
    ]
    assert [e.event_id for e in events if e.kind == "label_changed"] == [
        "cam:1:label_changed:1",
        "cam:1:label_changed:2",
    ]
    happy = run(CameraEvents(CAM, EventsConfig(held_labels=("angry",), held_s=2.0)), frames[50:60] * 1)
    assert not [e for e in happy if e.kind == "label_held"], "happy is not a held label"


def test_a_redelivered_message_makes_no_event_twice() -> None:
    cam = CameraEvents(CAM, EventsConfig())
    first = cam.apply(tracks(0, (1, "sad")))
    assert kinds(first) == [("track_started", 1)]
    assert cam.apply(tracks(0, (1, "sad"))) == []
    assert cam.apply(tracks(1, (1, "happy")))[0].kind == "label_changed"
    assert cam.apply(tracks(1, (1, "happy"))) == []
    assert cam.apply(tracks(0, (1, "sad"))) == [], "an older message again changes nothing back"


def test_a_checkpoint_continues_without_repeating_or_missing_events() -> None:
    config = EventsConfig(end_after_s=1.0)
    frames = [tracks(s, (1, "neutral"), (2, "sad")) for s in range(10)]
    frames += [tracks(s, (1, "happy")) for s in range(10, 40)]
    whole = run(CameraEvents(CAM, config), frames)
    a = CameraEvents(CAM, config)
    before = run(a, frames[:12])
    b = CameraEvents.from_json(a.to_json(), config)
    after = run(b, frames[10:])  # the restart reads two frames again
    assert before + after == whole
    assert [e.event_id for e in whole] == [
        "cam:1:track_started:1",
        "cam:2:track_started:1",
        "cam:1:label_changed:1",
        "cam:2:track_ended:1",
    ]


def test_a_file_job_s_end_ends_every_track() -> None:
    cam = CameraEvents(CAM, EventsConfig())
    run(cam, [tracks(s, (1, "happy"), (2, "sad")) for s in range(5)])
    end = End(camera_id=CAM, seq=5, captured_ms=1_000_500, mode="file", frames=5)
    assert kinds(cam.apply(end)) == [("track_ended", 1), ("track_ended", 2)]
    assert cam.tracks == {}


def test_skip_markers_age_tracks_and_a_quiet_live_camera_expires() -> None:
    cam = CameraEvents(CAM, EventsConfig(end_after_s=1.0))
    run(cam, [tracks(s, (1, "happy")) for s in range(3)])
    skip = Skip(camera_id=CAM, seq=20, captured_ms=1_000_000 + 20 * FPS_MS, stage="detector", reason="old")
    assert kinds(cam.apply(skip)) == [("track_ended", 1)]
    run(cam, [tracks(s, (3, "sad")) for s in range(21, 23)])
    last_ms = 1_000_000 + 22 * FPS_MS
    assert cam.expire(last_ms + 1500) == [], "within end_after_s and the grace second"
    assert kinds(cam.expire(last_ms + 2500)) == [("track_ended", 3)]


def test_a_file_job_s_tracks_do_not_expire_by_the_clock() -> None:
    cam = CameraEvents(CAM, EventsConfig(end_after_s=1.0))
    cam.apply(tracks(0, (1, "happy"), mode="file"))
    assert cam.expire(10**13) == [], "its times are the video's"
    assert kinds(CameraEvents.from_json(cam.to_json(), EventsConfig()).apply(tracks(1, mode="file"))) == []


def test_a_bad_state_is_refused() -> None:
    with pytest.raises(ValueError):
        CameraEvents.from_json(
            b'{"version": 9, "camera_id": "c", "applied_seq": 1, "tracks": []}', EventsConfig()
        )
    with pytest.raises(ValueError):
        CameraEvents.from_json(b"{not json", EventsConfig())


def test_a_track_that_comes_back_after_it_ended_goes_on_counting_its_events() -> None:
    # the tracker may re-identify a person after the events service has ended their track
    cam = CameraEvents(CAM, EventsConfig(end_after_s=1.0))
    frames = [tracks(s, (1, "happy")) for s in range(5)] + [tracks(s) for s in range(5, 20)]
    frames += [tracks(s, (1, "happy")) for s in range(20, 25)] + [tracks(s) for s in range(25, 40)]
    ids = [e.event_id for e in run(cam, frames[:22])]
    ids += [e.event_id for e in run(CameraEvents.from_json(cam.to_json(), cam.config), frames[22:])]
    assert ids == [
        "cam:1:track_started:1",
        "cam:1:track_ended:1",
        "cam:1:track_started:2",
        "cam:1:track_ended:2",
    ], "never the same id for two events, across a checkpoint too"


def test_history_counts_shown_labels_per_10_s_bucket_of_a_live_camera() -> None:
    cam = CameraEvents(CAM, EventsConfig())
    # 10 fps from t = 1000.0 s: seq 0-99 fill buckets 1000.0-1010.0 (faces 1 and 2), then 1010.0-1020.0
    run(cam, [tracks(s, (1, "happy"), (2, "sad" if s < 50 else "happy")) for s in range(150)])
    assert cam.take_closed() == [(1_000_000, {"happy": 150, "sad": 50})]
    assert cam.take_closed() == [], "taken once"
    restored = CameraEvents.from_json(cam.to_json(), EventsConfig())
    assert (restored.bucket_ms, restored.bucket) == (1_010_000, {"happy": 100}), "the open bucket survives"
    restored.flush(1_019_999)
    assert restored.take_closed() == [], "still open"
    restored.flush(1_020_000)  # the camera went quiet
    assert restored.take_closed() == [(1_010_000, {"happy": 100})]
    job = CameraEvents(CAM, EventsConfig())
    run(job, [tracks(s, (1, "happy"), mode="file") for s in range(150)])
    assert job.take_closed() == [] and job.bucket_ms == -1, "a file job has no live history"


def test_the_aggregate_identity_modes_counts_fill_the_history_and_make_no_track_event() -> None:
    cam = CameraEvents(CAM, EventsConfig())
    frames = [
        Tracks(
            camera_id=CAM,
            seq=s,
            captured_ms=1_000_000 + s * FPS_MS,
            frame_key="f",
            size_wh=(640, 360),
            tracks=(),
            counts={"happy": 2, "sad": 1},
        )
        for s in range(110)
    ]
    assert run(cam, frames) == [], "no track, so no per-person event"
    assert cam.take_closed() == [(1_000_000, {"happy": 200, "sad": 100})]
