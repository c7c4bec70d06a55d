"""Pure view helpers of the ui: camera JSON, bars payload, the grid, picking the newest Tracks."""

from __future__ import annotations

from services.common import codec
from services.common.labels import CANONICAL_LABELS
from services.common.registry import Camera
from services.common.schema import Skip, Track, Tracks
from services.ui.stage import (
    STALE_AFTER_MS,
    CameraView,
    bars_payload,
    camera_json,
    grid_html,
    grid_key,
    latest_tracks,
)

CAM = Camera("cam1", "/v.mp4", "live", True, status="running", frames=12, fps=9.5)


def tracks(seq: int = 3, captured_ms: int = 1_000, probs: dict[str, float] | None = None) -> Tracks:
    probs = probs or {"happy": 0.7, "sad": 0.3}
    label = max(probs, key=probs.__getitem__)
    track = Track(
        track_id=7,
        box_xyxy=(1.0, 2.0, 30.0, 40.0),
        label=label,
        confidence=probs[label],
        raw_label=label,
        probs=probs,
    )
    return Tracks(
        camera_id="cam1",
        seq=seq,
        captured_ms=captured_ms,
        frame_key="frame:cam1:3",
        size_wh=(64, 48),
        tracks=(track,),
    )


def test_camera_json_has_tracks_and_latency() -> None:
    out = camera_json(CAM, tracks(), now_ms=1_250).model_dump(mode="json")  # as the API answers it
    assert out["name"] == "cam1" and out["status"] == "running" and out["fps"] == 9.5 and out["frames"] == 12
    assert out["latency_ms"] == 250 and out["seq"] == 3
    assert out["tracks"] == [
        {
            "track_id": 7,
            "box_xyxy": [1.0, 2.0, 30.0, 40.0],
            "label": "happy",
            "confidence": 0.7,
            "raw_label": "happy",
            "probs": {"happy": 0.7, "sad": 0.3},
        }
    ]


def test_a_running_live_camera_whose_tracks_stopped_is_stale() -> None:
    fresh, old = tracks(captured_ms=1_000), tracks(captured_ms=1_000)
    assert camera_json(CAM, fresh, now_ms=1_000 + STALE_AFTER_MS).stale is False
    assert camera_json(CAM, old, now_ms=1_001 + STALE_AFTER_MS).stale is True
    payload = bars_payload([CameraView(CAM, old)], now_ms=1_001 + STALE_AFTER_MS)
    assert payload["cameras"][0]["stale"] is True
    # starting (no tracks yet), a file job at its own pace, a stopped camera: never stale
    assert camera_json(CAM, None, now_ms=10**9).stale is False
    file_job = Camera("job-1", "/v.mp4", "file", False, status="running")
    assert camera_json(file_job, old, now_ms=10**9).stale is False
    failed = Camera("cam2", "/v.mp4", "live", True, status="error")
    assert camera_json(failed, old, now_ms=10**9).stale is False


def test_camera_json_without_tracks() -> None:
    out = camera_json(CAM, None, now_ms=5).model_dump(mode="json")
    assert out["tracks"] == [] and out["latency_ms"] is None and out["seq"] is None


def test_latest_tracks_skips_markers_and_bad_entries() -> None:
    skip = Skip(camera_id="cam1", seq=4, captured_ms=1, stage="detector", reason="old")
    entries = [
        (b"3-0", codec.encode(skip)),
        (b"2-0", {b"type": b"tracks", b"v": b"1", b"body": b"\x00garbage"}),
        (b"1-0", codec.encode(tracks(seq=2))),
    ]
    found = latest_tracks(entries)
    assert found is not None and found[0] == "1-0" and found[1].seq == 2
    assert latest_tracks([(b"3-0", codec.encode(skip))]) is None


def test_bars_payload_has_every_canonical_label_with_its_colour() -> None:
    view = CameraView(CAM, tracks(captured_ms=900, probs={"happy": 0.6, "contempt": 0.4}))
    payload = bars_payload([view], now_ms=1_000, shown_fps={"cam1": 4.5})
    cam = payload["cameras"][0]
    assert cam["name"] == "cam1" and cam["latency_ms"] == 100
    assert cam["fps"] == 9.5 and cam["shown_fps"] == 4.5  # frames in vs annotated frames shown
    assert bars_payload([view], now_ms=1_000)["cameras"][0]["shown_fps"] == 0.0
    bars = cam["tracks"][0]["bars"]
    assert [b[0] for b in bars] == [*CANONICAL_LABELS, "contempt"]
    assert dict((b[0], b[1]) for b in bars)["happy"] == 0.6
    assert dict((b[0], b[2]) for b in bars)["happy"] == "#ffc800"  # annotate.hex_colour, same as the boxes
    assert cam["tracks"][0]["colour"] == "#ffc800"


def test_grid_escapes_names_and_names_the_camera_of_each_picture() -> None:
    cam = Camera("door-1", "x", "live", False, status="error", error="<can't open>")
    page = grid_html([cam])
    assert '<img data-emo-camera="door-1"' in page and "&lt;can&#x27;t open&gt;" in page
    assert "No cameras" in grid_html([])


def test_grid_key_ignores_counters() -> None:
    a = Camera("c", "x", "live", False, status="running", frames=1, fps=1.0)
    b = Camera("c", "x", "live", False, status="running", frames=99, fps=9.0)
    assert grid_key([a]) == grid_key([b])
    assert grid_key([a]) != grid_key([Camera("c", "x", "live", False, status="error")])
