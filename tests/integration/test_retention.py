"""The retention janitor against a real Redis and a real job directory, with a fake clock: what is older
than EMOSTREAM_RETENTION_HOURS goes, what is younger stays, and the log says how much, never what."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import redis

from services.common import codec, keys, registry
from services.common.job_store import JobRecord, JobStore
from services.common.retention import HOUR_MS, Janitor
from services.common.schema import Event, Frame

pytestmark = pytest.mark.integration

NOW_MS = 1_800_000_000_000  # the fake clock's "now"
OLD_MS, NEW_MS = NOW_MS - 30 * HOUR_MS, NOW_MS - 2 * HOUR_MS  # with 24 h retention: one goes, one stays


def job(store: JobStore, root: Path, job_id: str, finished_ms: int, status: str = "done") -> Path:
    out = root / "jobs" / job_id
    out.mkdir(parents=True)
    (out / "annotated.mp4").write_bytes(b"faces")
    (out / "tracks.csv").write_text("frame\n")
    store.save(
        JobRecord(job_id, "v.mp4", str(out / "v.mp4"), str(out), status=status, finished_ms=finished_ms)
    )
    return out


def event(camera: str, t_ms: int) -> dict[str, bytes | str]:
    e = Event(camera_id=camera, seq=0, captured_ms=t_ms, event_id=f"{camera}:1:enter:{t_ms}", kind="enter",
              track_id=1, label="happy", confidence=0.9)  # fmt: skip
    return codec.encode(e)


def test_the_janitor_deletes_only_what_is_older_than_the_retention(
    redis_client: redis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = JobStore(redis_client, data_dir=tmp_path)
    old_dir = job(store, tmp_path, "oldjob", OLD_MS)
    new_dir = job(store, tmp_path, "newjob", NEW_MS)
    running_dir = job(store, tmp_path, "busyjob", 0, status="running")  # unfinished: never a candidate
    registry.add(redis_client, "hall", "rtsp://example.invalid/hall")
    redis_client.zadd(keys.history("hall"), {'{"t": "old"}': OLD_MS, '{"t": "new"}': NEW_MS})
    redis_client.zadd(keys.history("gone"), {'{"t": "old"}': OLD_MS})  # a camera removed long ago
    for t in (OLD_MS, NEW_MS):
        redis_client.xadd(keys.EVENTS, event("hall", t), id=f"{t}-0")  # type: ignore[arg-type]  # redis-py's field mapping is invariant
        redis_client.xadd(keys.DEAD, {"reason": "x"}, id=f"{t}-0")
        frame = Frame(camera_id="hall", seq=t, captured_ms=t, frame_key="k", size_wh=(4, 4))
        redis_client.xadd(keys.stream("frames", "hall"), codec.encode(frame), id=f"{t}-0")  # type: ignore[arg-type]  # as above

    janitor = Janitor(redis_client, retention_h=24, store=store, clock=lambda: NOW_MS / 1000)
    with caplog.at_level(logging.INFO, logger="services.common.retention"):
        done = janitor.sweep()

    assert done == {
        "jobs": 1,
        "job_files": 2,
        "history_buckets": 2,
        "events": 1,
        "dead_letters": 1,
        "stream_entries": 1,
    }
    assert not old_dir.exists() and new_dir.is_dir() and running_dir.is_dir()
    assert {j.id for j in store.all()} == {"busyjob", "newjob"}
    assert redis_client.zrange(keys.history("hall"), 0, -1) == [b'{"t": "new"}']
    assert not redis_client.exists(keys.history("gone"))
    for stream in (keys.EVENTS, keys.DEAD, keys.stream("frames", "hall")):
        assert [eid for eid, _ in redis_client.xrange(stream)] == [f"{NEW_MS}-0".encode()], stream
    (line,) = [r.getMessage() for r in caplog.records if "retention sweep" in r.getMessage()]
    assert "jobs" in line and "hall" not in line and "oldjob" not in line, "counts, never content"

    assert janitor.sweep() == {}, "a second sweep finds nothing more"
    later = Janitor(redis_client, retention_h=24, store=store, clock=lambda: (NOW_MS + 23 * HOUR_MS) / 1000)
    assert later.sweep()["jobs"] == 1 and not new_dir.exists(), "a day on, the younger job goes too"


def test_zero_retention_is_not_a_janitor(redis_client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="above 0"):
        Janitor(redis_client, retention_h=0)


def test_the_ui_runs_the_janitor_when_retention_is_set(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from services.ui.app import create_app
    from services.ui.settings import UISettings
    from tests.support.wait import wait_for

    store = JobStore(redis_client, data_dir=tmp_path)
    old_dir = job(store, tmp_path, "stale", 1)  # finished in 1970
    settings = UISettings(redis_url=redis_url, data_dir=tmp_path, retention_hours=1, retention_check_s=0.2)
    with TestClient(create_app(settings, redis_client)):
        wait_for(lambda: not old_dir.exists(), 10, "the janitor's first sweep")
    assert store.get("stale") is None
