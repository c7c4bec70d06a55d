"""A master that refuses writes while its replica is away (``min-replicas-to-write``, docs/deploy.md):
the services wait and write again once the replica is back (a worker process does not exit), and a file
job loses no frame. Two real redis-server processes, a master and its replica; the replica is
SIGKILLed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.cli.embedded_redis import EmbeddedRedis
from services.common import codec, keys, registry
from services.common.lifecycle import redis_away
from services.common.schema import End, Frame
from services.ingest.camera import CameraReader
from services.ingest.settings import IngestSettings
from tests.integration.test_tracker_restart import publish
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

FRAMES = 72  # single_face.mp4


@pytest.fixture()
def master_and_replica() -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis]]:
    with EmbeddedRedis() as master, EmbeddedRedis() as replica:
        follow(replica, master)
        m = redis.Redis(port=master.port)
        m.config_set("min-replicas-to-write", 1)
        m.config_set("min-replicas-max-lag", 2)
        wait_for(lambda: writes(m), what="the master accepting writes with its replica")
        yield master, replica
        m.close()


def follow(replica: EmbeddedRedis, master: EmbeddedRedis) -> None:
    r = redis.Redis(port=replica.port)
    r.replicaof("127.0.0.1", master.port)
    wait_for(lambda: r.info("replication").get("master_link_status") == "up", 20, "the replica's link")
    r.close()


def writes(client: redis.Redis) -> bool:
    try:
        client.set("probe", "1")
    except redis.ResponseError as exc:
        assert redis_away(exc), exc
        return False
    return True


def test_ingest_waits_while_the_master_refuses_writes_and_loses_no_frame(
    master_and_replica: tuple[EmbeddedRedis, EmbeddedRedis], sample_media: Path
) -> None:
    master, replica = master_and_replica
    m = redis.Redis(port=master.port)
    camera = registry.add(m, "job1", str(sample_media / "single_face.mp4"), mode="file")
    replica.kill()  # SIGKILL
    wait_for(lambda: not writes(m), 15, "the master refusing writes (NOREPLICAS)")

    settings = IngestSettings(redis_url=master.url, instance="test-ingest", file_high_water=1000)  # type: ignore[call-arg]
    reader = CameraReader(redis.Redis.from_url(master.url), settings, camera)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    try:
        thread.join(3)
        assert thread.is_alive(), "the reader waits; it neither fails the job nor stops"
        assert m.xlen(keys.stream("frames", "job1")) == 0
        assert registry.get(m, "job1").status != "failed"  # type: ignore[union-attr]

        replica.start()
        follow(replica, master)
        thread.join(60)
        assert not thread.is_alive()
    finally:
        reader.stop.set()
        thread.join(10)
        reader.redis.close()

    msgs = [codec.decode(f) for _, f in m.xrange(keys.stream("frames", "job1"))]
    assert [x.seq for x in msgs if isinstance(x, Frame)] == list(range(FRAMES)), "every frame once, in order"
    assert isinstance(msgs[-1], End) and msgs[-1].error == "" and msgs[-1].frames == FRAMES
    assert registry.get(m, "job1").status == "done"  # type: ignore[union-attr]
    m.close()


def test_a_worker_waits_out_the_refusal_and_works_again_when_the_replica_is_back(
    master_and_replica: tuple[EmbeddedRedis, EmbeddedRedis],
) -> None:
    master, replica = master_and_replica
    m = redis.Redis(port=master.port)
    registry.add(m, "cam1", "file:///clip.mp4", mode="file")
    env = {**os.environ, "EMOSTREAM_REDIS_URL": master.url, "EMOSTREAM_INSTANCE": "tracker-r"}
    env |= {"EMOSTREAM_LEASE_MS": "1000", "EMOSTREAM_LOG_LEVEL": "WARNING"}
    tracker = subprocess.Popen([sys.executable, "-m", "services.tracker"], env=env, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: m.exists(keys.health("tracker", "tracker-r")), 30, "the tracker's first beat")
        replica.kill()  # SIGKILL
        wait_for(lambda: not writes(m), 15, "the master refusing writes (NOREPLICAS)")
        with pytest.raises(subprocess.TimeoutExpired):
            tracker.wait(5)  # it waits out the refusal: it does not exit
        replica.start()
        follow(replica, master)
        publish(m, "cam1", range(10))
        wait_for(lambda: m.xlen(keys.stream("tracks", "cam1")) == 10, 30, "tracks of all 10 frames")
    finally:
        tracker.terminate()
        _, err = tracker.communicate(timeout=20)
        m.close()
    assert b"Traceback" not in err, err.decode()[-2000:]
