"""Several cameras at once through the real services (ingest, detector, classifier, tracker as processes,
real Redis): each generated clip keeps its identities, and each camera gets its own live timeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from services.cli.eval_tracking import hyp_of, read_gt, tracking_metrics
from services.cli.stack import Stack
from services.common import keys, registry
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
