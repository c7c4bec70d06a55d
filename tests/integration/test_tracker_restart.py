"""Tracker ownership and checkpoints against a real Redis: kill and restart, takeover, fencing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from services.common import codec, keys, registry
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Emotions, FaceEmotion, Tracks
from services.tracker.service import TrackerWorker
from services.tracker.settings import TrackerSettings
from services.tracker.stage import CameraTracker, Observation, TrackerConfig
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

FRAMES = 80


def probs(label: str) -> dict[str, float]:
    rest = 0.2 / (len(CANONICAL_LABELS) - 1)
    return {k: (0.8 if k == label else rest) for k in CANONICAL_LABELS}


def faces_at(seq: int) -> list[FaceEmotion]:
    """Two faces walking towards each other; the one going left is hidden while they overlap."""
    a = 40 + 6 * seq
    b = 520 - 6 * seq
    out = [FaceEmotion(box_xyxy=(a, 100, a + 80, 190), score=0.99, probs=probs("happy"))]
    if abs(a - b) > 60:
        out.append(FaceEmotion(box_xyxy=(b, 104, b + 80, 194), score=0.99, probs=probs("sad")))
    return out


def publish(client: redis.Redis, camera: str, seqs: range) -> None:
    for seq in seqs:
        msg = Emotions(
            camera_id=camera,
            seq=seq,
            captured_ms=int(time.time() * 1000),
            mode="file",
            frame_key="",
            size_wh=(640, 360),
            faces=tuple(faces_at(seq)),
        )
        client.xadd(keys.stream("emotions", camera), codec.encode(msg))  # type: ignore[arg-type]


def reference(frames: int) -> dict[int, list[tuple[int, tuple[float, ...], str]]]:
    """What one uninterrupted tracker publishes, per seq: (track id, box, shown label)."""
    tracker = CameraTracker(TrackerConfig())
    return {
        seq: [
            (v.track_id, tuple(round(x, 1) for x in v.box_xyxy), v.label)
            for v in tracker.update(seq, [Observation(f.box_xyxy, f.probs, f.score) for f in faces_at(seq)])
        ]
        for seq in range(frames)
    }


def published(client: redis.Redis, camera: str) -> list[Tracks]:
    out = []
    for _, fields in client.xrange(keys.stream("tracks", camera)) or []:
        assert fields is not None
        msg = codec.decode(fields)
        assert isinstance(msg, Tracks)
        out.append(msg)
    return out


def as_reference(tracks: list[Tracks]) -> dict[int, list[tuple[int, tuple[float, ...], str]]]:
    return {
        m.seq: [(t.track_id, tuple(round(x, 1) for x in t.box_xyxy), t.label) for t in m.tracks]
        for m in tracks
    }


def start_tracker(redis_url: str, instance: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EMOSTREAM_REDIS_URL": redis_url,
        "EMOSTREAM_INSTANCE": instance,
        "EMOSTREAM_LEASE_MS": "1000",
        "EMOSTREAM_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "services.tracker"], env=env)


def test_killed_tracker_process_restarts_with_the_same_ids(redis_url: str, redis_client: redis.Redis) -> None:
    camera = "cam-restart"
    registry.add(redis_client, camera, "file:///clip.mp4", mode="file")
    first = start_tracker(redis_url, "tracker-a")
    try:
        publish(redis_client, camera, range(0, 30))
        wait_for(lambda: redis_client.xlen(keys.stream("tracks", camera)) >= 30, timeout_s=20)
        publish(redis_client, camera, range(30, 45))  # some of these may be read but not applied: killed
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert redis_client.exists(keys.tracker_state(camera)), "the tracker checkpoints its state"
    publish(redis_client, camera, range(45, FRAMES))
    second = start_tracker(redis_url, "tracker-b")
    try:
        wait_for(lambda: redis_client.xlen(keys.stream("tracks", camera)) >= FRAMES, timeout_s=20)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    tracks = published(redis_client, camera)
    assert sorted(m.seq for m in tracks) == list(range(FRAMES)), "every frame once: none lost, none twice"
    assert as_reference(tracks) == reference(FRAMES), "ids, boxes and labels as if never interrupted"
    assert {t.track_id for m in tracks for t in m.tracks} == {1, 2}


@contextmanager
def replica(redis_url: str, instance: str, **overrides: object) -> Iterator[TrackerWorker]:
    settings = TrackerSettings(redis_url=redis_url, instance=instance, lease_ms=1000, **overrides)  # type: ignore[arg-type]
    worker = TrackerWorker(settings, stop=threading.Event())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop.set()
        thread.join(10)


def test_replicas_share_cameras_and_take_over_with_the_same_ids(
    redis_url: str, redis_client: redis.Redis
) -> None:
    cams = ["cam-1", "cam-2"]
    for cam in cams:
        registry.add(redis_client, cam, "file:///clip.mp4", mode="file")
    with replica(redis_url, "a", max_cameras=1) as a:
        wait_for(lambda: len(a.owned) == 1, timeout_s=20)
        with replica(redis_url, "b", max_cameras=1) as b:
            wait_for(lambda: len(b.owned) == 1, timeout_s=20)
            assert sorted(a.owned + b.owned) == cams, "one owner per camera"
            for cam in cams:
                publish(redis_client, cam, range(0, 40))
            wait_for(
                lambda: all(redis_client.xlen(keys.stream("tracks", c)) >= 40 for c in cams), timeout_s=20
            )
            for cam in cams:
                owner = redis_client.get(keys.tracker_lease(cam))
                consumers = {
                    c["name"].decode()
                    for c in redis_client.xinfo_consumers(keys.stream("emotions", cam), "tracker")
                    if c["name"]
                }
                assert isinstance(owner, bytes)
                assert consumers == {owner.decode()}, f"only the owner of {cam} reads it"
        # b stopped and released its camera; a (max_cameras=1) cannot take it, so c takes both below
    with replica(redis_url, "c") as c:
        wait_for(lambda: len(c.owned) == 2, timeout_s=20)
        for cam in cams:
            publish(redis_client, cam, range(40, FRAMES))
        wait_for(
            lambda: all(redis_client.xlen(keys.stream("tracks", c)) >= FRAMES for c in cams), timeout_s=20
        )
    for cam in cams:
        tracks = published(redis_client, cam)
        assert sorted(m.seq for m in tracks) == list(range(FRAMES))
        assert as_reference(tracks) == reference(FRAMES)


def test_replica_leaves_cameras_it_does_not_own(redis_url: str, redis_client: redis.Redis) -> None:
    cam = "cam-owned-elsewhere"
    registry.add(redis_client, cam, "file:///clip.mp4", mode="file")
    redis_client.set(keys.tracker_lease(cam), "someone-else", px=60_000)
    publish(redis_client, cam, range(0, 10))
    with replica(redis_url, "d") as d:
        time.sleep(1.5)
        assert d.owned == []
        assert redis_client.xlen(keys.stream("tracks", cam)) == 0
        groups = redis_client.xinfo_groups(keys.stream("emotions", cam))
        assert all(g["pending"] == 0 for g in groups), "nothing read, so nothing for the owner to reclaim"
        redis_client.delete(keys.tracker_lease(cam))  # the owner goes away
        wait_for(lambda: redis_client.xlen(keys.stream("tracks", cam)) >= 10, timeout_s=20)
        assert d.owned == [cam]


def test_lost_lease_stops_publishing(redis_url: str, redis_client: redis.Redis) -> None:
    cam = "cam-fenced"
    registry.add(redis_client, cam, "file:///clip.mp4", mode="file")
    with replica(redis_url, "e") as e:
        wait_for(lambda: e.owned == [cam], timeout_s=20)
        publish(redis_client, cam, range(0, 10))
        wait_for(lambda: redis_client.xlen(keys.stream("tracks", cam)) >= 10, timeout_s=20)
        redis_client.set(keys.tracker_lease(cam), "usurper", px=60_000)
        publish(redis_client, cam, range(10, 20))
        time.sleep(1.5)
        assert redis_client.xlen(keys.stream("tracks", cam)) == 10, (
            "a replica without the lease publishes nothing"
        )
        assert e.owned == []


def test_timeline_key_holds_segments(redis_url: str, redis_client: redis.Redis) -> None:
    import json

    cam = "cam-timeline"
    registry.add(redis_client, cam, "rtsp://example/cam", mode="live")
    with replica(redis_url, "f", timeline_interval_ms=0):
        wait_for(lambda: redis_client.get(keys.tracker_lease(cam)) is not None, timeout_s=20)
        publish(redis_client, cam, range(0, 20))
        wait_for(lambda: redis_client.xlen(keys.stream("tracks", cam)) >= 20, timeout_s=20)
        wait_for(lambda: redis_client.get(keys.timeline(cam)) is not None, timeout_s=20)
    raw = redis_client.get(keys.timeline(cam))
    assert isinstance(raw, bytes)
    doc = json.loads(raw)
    assert doc["camera_id"] == cam
    by_id = {t["track_id"]: t for t in doc["tracks"]}
    assert set(by_id) == {1, 2}
    assert [s["label"] for s in by_id[1]["segments"]] == ["happy"]
    assert by_id[1]["segments"][0]["start_seq"] == 0
    assert redis_client.pttl(keys.timeline(cam)) > 0, "the timeline expires when nobody refreshes it"


def tracks_out(cam: str, seq: int) -> tuple[str, Tracks]:
    out = Tracks(
        camera_id=cam, seq=seq, captured_ms=0, mode="file", frame_key="", size_wh=(64, 48), tracks=()
    )
    return keys.stream("tracks", cam), out


def test_a_commit_writes_only_the_cameras_whose_lease_it_still_holds(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The lease check and the writes are one script: a camera whose lease another replica took between
    the worker's renewal and its commit gets none of the batch, the others all of it, in one round trip
    when every lease is held."""
    from services.common.connect import connect
    from services.common.streams import Batch

    cams = ["cam-kept", "cam-taken"]
    for cam in cams:
        registry.add(redis_client, cam, "file:///clip.mp4", mode="file")
    settings = TrackerSettings(redis_url=redis_url, instance="g", lease_ms=10_000)
    worker = TrackerWorker(settings, client=connect(settings), stop=threading.Event())
    try:
        assert sorted(worker.assign(cams)) == cams
        redis_client.execute_command("CONFIG", "RESETSTAT")
        worker.commit_shard(Batch(outputs=[tracks_out(c, 0) for c in cams]))
        calls = redis_client.info("commandstats")
        assert calls["cmdstat_evalsha"]["calls"] == 1 and "cmdstat_exec" not in calls
        assert [redis_client.xlen(keys.stream("tracks", c)) for c in cams] == [1, 1]

        redis_client.set(keys.tracker_lease("cam-taken"), "usurper", px=60_000)
        worker.commit_shard(Batch(outputs=[tracks_out(c, 1) for c in cams]))
        assert [redis_client.xlen(keys.stream("tracks", c)) for c in cams] == [2, 1]
        assert worker.owned == ["cam-kept"]
        assert redis_client.get(keys.tracker_lease("cam-taken")) == b"usurper"
    finally:
        worker.redis.close()


def test_redis_gone_during_a_commit_is_redis_away(redis_url: str, redis_client: redis.Redis) -> None:
    """A commit that gets no answer (Redis paused with CLIENT PAUSE, as a cut link would leave it) raises
    what the service loop waits out with a reconnect and backoff (a partitioned tracker once died of it)."""
    from services.common.connect import connect
    from services.common.lifecycle import redis_away
    from services.common.streams import Batch

    cam = "cam-paused"
    registry.add(redis_client, cam, "file:///clip.mp4", mode="file")
    settings = TrackerSettings(redis_url=redis_url, instance="g", lease_ms=10_000)
    worker = TrackerWorker(settings, client=connect(settings, socket_timeout=0.3), stop=threading.Event())
    try:
        assert worker.assign([cam]) == [cam]
        worker.commit_shard(Batch(outputs=[tracks_out(cam, 0)]))  # the script is loaded
        redis_client.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        with pytest.raises(redis.RedisError) as raised:
            worker.commit_shard(Batch(outputs=[tracks_out(cam, 1)]))
        assert redis_away(raised.value), raised.value
    finally:
        redis_client.execute_command("CLIENT", "UNPAUSE")
        worker.redis.close()
