"""Recovery of a crashed worker, of a file job in ingest, and of job records: real Redis, no mocks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from services.common import codec, health, keys, registry
from services.common.job_journal import Journal
from services.common.job_store import JobRecord, JobStore
from services.common.schema import End, Frame
from services.common.settings import CommonSettings
from services.common.streams import StreamClient
from services.common.worker import Worker
from services.ingest.camera import CameraReader
from services.ingest.settings import IngestSettings
from tests.integration.test_reconnect import Echo, publish
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


def test_a_restarted_worker_takes_its_own_pending_entries_at_once(redis_client: redis.Redis) -> None:
    registry.add(redis_client, "cam", "push:cam")
    for seq in range(5):
        publish(redis_client, seq)
    # the first life of consumer "det-0": it reads three entries and dies before committing them
    first = StreamClient(redis_client, "detector", "det-0", maxlen=100)
    assert len(first.read([keys.stream("frames", "cam")], count=3, block_ms=10)) == 3
    settings = CommonSettings(redis_url="redis://unused", instance="det-0", claim_idle_ms=600_000)
    worker = Worker("detector", settings, Echo(), "frames", "detector", client=redis_client)
    thread = threading.Thread(target=worker.run, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        wait_for(lambda: redis_client.xlen(keys.stream("faces", "cam")) == 5, 10, "all five outputs")
        recovered_in_s = time.monotonic() - started
    finally:
        worker.stop.set()
        thread.join(10)
    seqs = [codec.decode(f).seq for _, f in redis_client.xrange(keys.stream("faces", "cam"))]
    assert sorted(seqs) == [0, 1, 2, 3, 4], "each entry exactly once"
    assert recovered_in_s < 10, "own entries must not wait for claim_idle_ms (600 s here)"
    assert redis_client.xpending(keys.stream("frames", "cam"), "detector")["pending"] == 0


def test_another_consumers_entries_still_wait_for_claim_idle(redis_client: redis.Redis) -> None:
    registry.add(redis_client, "cam", "push:cam")
    publish(redis_client, 0)
    gone = StreamClient(redis_client, "detector", "gone-for-good", maxlen=100)
    assert len(gone.read([keys.stream("frames", "cam")], count=1, block_ms=10)) == 1
    settings = CommonSettings(redis_url="redis://unused", instance="other", claim_idle_ms=1500)
    worker = Worker("detector", settings, Echo(), "frames", "detector", client=redis_client)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        assert redis_client.xlen(keys.stream("faces", "cam")) == 0, "another consumer's entry is not stolen"
        wait_for(
            lambda: redis_client.xlen(keys.stream("faces", "cam")) == 1, 10, "the claimed entry's output"
        )
    finally:
        worker.stop.set()
        thread.join(10)


def test_ingest_resumes_a_file_job_where_it_stopped(redis_client: redis.Redis, sample_media: Path) -> None:
    video = sample_media / "single_face.mp4"  # 72 frames
    registry.add(redis_client, "job", str(video), mode="file")
    settings = IngestSettings(redis_url="redis://unused", file_high_water=10_000)
    # the first reader pauses at 26 frames (no detector drains them), so it is stopped mid-job however
    # fast this machine reads the file: at full speed it could reach the End before the stop
    paused = IngestSettings(redis_url="redis://unused", file_high_water=25)
    first = CameraReader(redis_client, paused, registry.get(redis_client, "job"))  # type: ignore[arg-type]
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    wait_for(lambda: redis_client.xlen(keys.stream("frames", "job")) >= 20, 30, "20 frames read")
    first.stop.set()  # as if ingest died here: no End was written
    thread.join(10)
    done_before = redis_client.xlen(keys.stream("frames", "job"))
    assert 20 <= done_before < 72
    second = CameraReader(redis_client, settings, registry.get(redis_client, "job"))  # type: ignore[arg-type]
    second.run()
    msgs = [codec.decode(f) for _, f in redis_client.xrange(keys.stream("frames", "job"))]
    frames = [m for m in msgs if isinstance(m, Frame)]
    assert [f.seq for f in frames] == list(range(72)), "each frame once, in order, none skipped"
    assert isinstance(msgs[-1], End) and msgs[-1].frames == 72 and not msgs[-1].error
    # the resumed part is the same video: frame 40's JPEG is the 41st frame of the file
    assert redis_client.exists(keys.frame("job", 40))


def test_job_records_live_in_redis(redis_client: redis.Redis, tmp_path: Path) -> None:
    store = JobStore(redis_client, owner_ttl_ms=500)
    job = JobRecord("j1", "clip.mp4", str(tmp_path / "clip.mp4"), str(tmp_path / "out"), frames_total=9)
    store.save(job)
    store.update(job, status="running", frames_done=4)
    other_process = JobStore(redis.Redis(connection_pool=redis_client.connection_pool))
    seen = other_process.get("j1")
    assert seen is not None and (seen.status, seen.frames_done, seen.frames_total) == ("running", 4, 9)
    assert [j.id for j in other_process.orphans()] == ["j1"], "no owner: anyone may take it over"
    assert store.own("j1", "ui-a") and not other_process.own("j1", "ui-b")
    assert other_process.orphans() == []
    time.sleep(0.7)  # ui-a died: its owner key lapses
    assert other_process.own("j1", "ui-b")
    redis_client.hset(keys.job("bad"), mapping={"id": "bad"})  # written by hand, malformed
    redis_client.zadd(keys.JOBS, {"bad": 1})
    assert store.get("bad") is None and [j.id for j in store.all()] == ["j1"]


def test_journal_ignores_a_torn_last_record(tmp_path: Path) -> None:
    journal = Journal(tmp_path / ".journal")
    journal.append([("1-0", {b"a": b"x"}), ("2-0", {b"b": b"y"})])
    with open(tmp_path / ".journal", "ab") as fh:
        fh.write((100).to_bytes(4, "big") + b"half a rec")  # the process died while writing
    assert journal.load() == [("1-0", {b"a": b"x"}), ("2-0", {b"b": b"y"})]
    journal.append([("3-0", {b"c": b"z"})])
    assert [r[0] for r in journal.load()] == ["1-0", "2-0", "3-0"]


def test_check_looks_at_this_instance_only(redis_url: str, redis_client: redis.Redis) -> None:
    health.beat(redis_client, "detector", "host-a-detector-0", 30, {})
    assert health.check(redis_url, "detector", "host-a-detector-0") == 0
    assert health.check(redis_url, "detector", "host-b-detector-0") == 1, "a replica elsewhere is no proof"
    assert health.check(redis_url, "detector", "host-a-*") == 0
    assert health.check(redis_url, "detector", "host-b-*") == 1
    assert health.check("redis://127.0.0.1:1/0", "detector", "host-a-detector-0") == 1
