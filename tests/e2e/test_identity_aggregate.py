"""EMOSTREAM_IDENTITY=aggregate end to end: the pipeline as processes (the tracker in aggregate mode) on
an embedded Redis, ``emostream analyze`` on a five-face clip. No track id leaves the tracker: the
outputs hold no track, no timeline, and per frame only the faces per label; the tracks stream holds no
track either."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.cli.stack import PIPELINE, Stack, stack
from services.common import codec, keys, registry
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Tracks
from tests.e2e.test_analyze import drifting_group_clip, read_rows, run_analyze
from tests.support.wait import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture()
def aggregate_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.delenv("EMOSTREAM_REDIS_URL", raising=False)
    with stack(PIPELINE, env={"EMOSTREAM_IDENTITY": "aggregate"}, redis_url="") as up:
        up.wait_healthy(180)
        yield up


def test_aggregate_identity_keeps_only_counts(
    aggregate_stack: Stack, sample_media: Path, tmp_path: Path
) -> None:
    video = tmp_path / "group.mp4"
    drifting_group_clip(sample_media / "multi_face.jpg", video)
    admin = redis.Redis.from_url(aggregate_stack.redis_url)

    done = run_analyze(aggregate_stack.redis_url, video, tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    _, rows = read_rows(out / "tracks.csv")
    assert rows == [], "no row of a track"
    assert json.loads((out / "timeline.json").read_text()) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tracks"] == [] and summary["frames"] == 16 and summary["frames_with_faces"] == 16
    with open(out / "counts.csv", newline="") as fh:
        counts = list(csv.DictReader(fh))
    assert [int(r["frame"]) for r in counts] == list(range(16))
    for r in counts:
        assert sum(int(r[f"n_{label}"]) for label in CANONICAL_LABELS) == 5, r

    # a live camera: what reaches the ui and the events service carries no track, and no timeline
    registry.add(admin, "room", str(sample_media / "single_face.mp4"), mode="live", loop=True)

    def published() -> list[Tracks]:
        entries = admin.xrange(keys.stream("tracks", "room"))
        msgs = [codec.decode(f) for _, f in entries or []]  # type: ignore[arg-type]  # redis-py's reply is bytes fields
        return [m for m in msgs if isinstance(m, Tracks)]

    msgs = wait_for(lambda: (m := published()) and sum(1 for x in m if x.counts) >= 5 and m, 120, "tracks")
    assert msgs and all(m.tracks == () for m in msgs)
    assert {label for m in msgs for label in m.counts} <= set(CANONICAL_LABELS)
    assert admin.get(keys.timeline("room")) is None
    registry.remove(admin, "room")
    admin.close()
