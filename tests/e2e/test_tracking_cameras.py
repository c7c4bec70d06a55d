"""Several cameras at once through the real services (ingest, detector, classifier, tracker as processes,
real Redis): each generated clip keeps its identities, and each camera gets its own live timeline; a live
camera gives a person who walked out and back in their id and timeline back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from services.cli.eval_tracking import hyp_of, read_gt, tracking_metrics
from services.cli.stack import Stack
from services.common import codec, keys, registry
from services.common.jobs import collect
from services.common.schema import Tracks
from tests.support import clips

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CLIPS = ("crossing", "occlusion")


def test_two_cameras_at_once_keep_their_identities(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(services_up.redis_url)
    built = {name: clips.build(clips.TRACKING_CLIPS[name](), sample_media, tmp_path) for name in CLIPS}
    for name, (video, _) in built.items():
        registry.add(client, f"cam-{name}", str(video), mode="file")
    for name, (_, gt) in built.items():
        cam = f"cam-{name}"
        result = collect(client, cam, stall_timeout_s=300)
        timeline = client.get(keys.timeline(cam))
        registry.remove(client, cam)
        tracks = [m for m in result.frames.values() if isinstance(m, Tracks)]
        assert result.end is not None and not result.end.error
        metrics = tracking_metrics(read_gt(gt), hyp_of(tracks), result.end.frames)
        assert metrics["id_switches"] == 0, (name, metrics)
        assert metrics["idf1"] >= 0.95, (name, metrics)
        ids = {t.track_id for m in tracks for t in m.tracks}
        assert ids == set(range(1, len(clips.TRACKING_CLIPS[name]().actors) + 1)), "ids per camera from 1"
        assert timeline is not None, "the tracker wrote the camera's timeline"
        doc = json.loads(timeline)
        assert doc["camera_id"] == cam and {t["track_id"] for t in doc["tracks"]} == ids


def test_a_live_camera_gives_a_returning_person_their_id_and_timeline_back(
    services_up: Stack, sample_media: Path, tmp_path: Path
) -> None:
    # reentry_3s played once as a live camera in real time (written at 10 fps, the ingest's live cap;
    # drops included): cleo walks out at 2 s, a stranger walks in through the same edge, cleo is back at 5 s
    client = redis.Redis.from_url(services_up.redis_url)
    spec = clips.TRACKING_CLIPS["reentry_3s"]()
    video = clips.write_clip(clips.render(spec, sample_media), tmp_path / "reentry.mp4", fps=10.0)
    cam = "cam-reentry"
    registry.add(client, cam, str(video), mode="live")
    stream = keys.stream("tracks", cam)
    deadline = time.monotonic() + 120
    seen: list[Tracks] = []
    settled = 0
    while time.monotonic() < deadline and settled < 3:
        time.sleep(1.0)
        before = len(seen)
        seen = [m for _, f in client.xrange(stream) if isinstance(m := codec.decode(f), Tracks)]
        done = client.hget(keys.camera(cam), "status") == b"done"
        settled = settled + 1 if done and len(seen) == before else 0
    timeline = client.get(keys.timeline(cam))
    registry.remove(client, cam)
    frames = [m for m in seen if m.tracks]
    assert frames, "the camera published tracks"
    t0 = frames[0].captured_ms
    cleo = max(frames[0].tracks, key=lambda t: t.box_xyxy[0]).track_id  # she starts right of fay
    when = sorted((m.captured_ms - t0) / 1000 for m in frames for t in m.tracks if t.track_id == cleo)
    gap = max(b - a for a, b in zip(when, when[1:], strict=False))
    story = [(m.seq, [(t.track_id, round(t.box_xyxy[0])) for t in m.tracks]) for m in frames[::5]]
    assert gap >= 2.0, f"cleo was away for 3 s and came back under her id: {story}"
    ids = {t.track_id for m in frames for t in m.tracks}
    assert len(ids) == len(spec.actors), f"one id per person, the stranger's his own: {story}"
    assert timeline is not None
    mine = [t for t in json.loads(timeline)["tracks"] if t["track_id"] == cleo]
    assert len(mine) == 1, "one timeline for cleo"
    first_ms = mine[0]["segments"][0]["start_ms"]
    assert (mine[0]["last_ms"] - first_ms) / 1000 >= gap + 1.0, "her timeline continues, not restarts"
