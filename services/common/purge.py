"""Erasure: everything kept of one camera or one job, deleted, and Redis's files on disk rewritten.

:func:`purge_camera` unregisters the camera and deletes its streams, frames, tracker and events state,
live timeline and history, and its entries in the shared events and dead-letter streams, twice,
:data:`SETTLE_S` apart, so what a worker had in flight when the camera went is caught by the second
pass; then it waits for the camera's leases to be released. :func:`purge_job` does that for the job's
camera and deletes its record and its directory (upload and outputs). :func:`rewrite_files` then has
Redis rewrite its append-only file (BGREWRITEAOF; an RDB snapshot too when the server keeps one), so no
deleted key stays on its disk. Used by ``emostream purge`` and by the ui's ``DELETE ...?purge=true``
(docs/privacy.md). What a replica, a backup or a webhook receiver holds is out of reach; docs/privacy.md
says so.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import cast

import redis

from services.common import codec, keys, registry
from services.common.codec import SchemaError
from services.common.job_store import JobRecord, JobStore

log = logging.getLogger(__name__)

SETTLE_S = 2.0  # between the two passes: longer than a worker holds a message it read
LEASE_WAIT_S = 10.0  # at most this long for the camera's owners to release its leases
_PAGE = 1000


class PurgeError(RuntimeError):
    """The purge could not be done; the message says why (nothing was deleted when it is raised early)."""


class UnknownJob(PurgeError):
    """No job of that id."""


class JobRunning(PurgeError):
    """The job is still running: its runner would write its outputs again."""


class RewriteError(PurgeError):
    """What was deleted is gone from Redis, but Redis did not rewrite its files."""


def _scan_delete(client: redis.Redis, pattern: str) -> int:
    found = list(client.scan_iter(match=pattern, count=_PAGE))
    for i in range(0, len(found), _PAGE):
        client.delete(*found[i : i + _PAGE])  # one camera's frames share its shard's slot on a cluster
    return len(found)


def _entries(client: redis.Redis, stream: str) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    """Every entry of ``stream``, oldest first, a page at a time."""
    start = "-"
    while True:
        page = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream, start, "+", count=_PAGE))
        yield from page
        if len(page) < _PAGE:
            return
        start = "(" + page[-1][0].decode()


def _xdel_where(client: redis.Redis, stream: str, match: Callable[[dict[bytes, bytes]], bool]) -> int:
    ids = [eid for eid, fields in _entries(client, stream) if match(fields)]
    for i in range(0, len(ids), _PAGE):
        client.xdel(stream, *ids[i : i + _PAGE])
    return len(ids)


def _is_camera_event(camera_id: str) -> Callable[[dict[bytes, bytes]], bool]:
    def match(fields: dict[bytes, bytes]) -> bool:
        try:
            return codec.decode(fields).camera_id == camera_id
        except SchemaError:
            return False

    return match


def _once(client: redis.Redis, camera_id: str) -> Counter[str]:
    done: Counter[str] = Counter()
    done["camera"] += int(registry.remove(client, camera_id, drop_streams=True))
    done["frames"] += _scan_delete(client, keys.frame(camera_id, "*"))
    own = [
        keys.timeline(camera_id),
        keys.history(camera_id),
        keys.tracker_state(camera_id),
        keys.events_state(camera_id),
    ]
    done["keys"] += sum(int(client.delete(k)) for k in own)
    events = keys.events(camera_id)
    done["events"] += _xdel_where(client, events, _is_camera_event(camera_id))
    prefix = f"{camera_id}:".encode()
    done["events_dead"] += _xdel_where(
        client, keys.events_dead_of(events), lambda f: f.get(b"event_id", b"").startswith(prefix)
    )
    streams = {keys.stream(kind, camera_id).encode() for kind in keys.STREAM_KINDS}
    done["dead_letters"] += sum(
        _xdel_where(client, dead, lambda f: f.get(b"stream", b"") in streams) for dead in keys.dead_streams()
    )
    return done


def purge_camera(
    client: redis.Redis, camera_id: str, settle_s: float = SETTLE_S, lease_wait_s: float = LEASE_WAIT_S
) -> Counter[str]:
    """Delete everything of ``camera_id`` in Redis (see the module docstring); returns what was deleted,
    counted by kind (never content). Raises CameraError for a name that no camera can have."""
    registry.validate_name(camera_id)
    done = _once(client, camera_id)
    if settle_s > 0:
        time.sleep(settle_s)
        done.update(_once(client, camera_id))
    _wait_leases(client, camera_id, lease_wait_s)
    log.info("purged camera=%s deleted=%s", camera_id, dict(+done))
    return done


def _wait_leases(client: redis.Redis, camera_id: str, timeout_s: float) -> None:
    """Until the tracker's and events' owners released the camera (they do once it is unregistered). A
    lease is never deleted here, so no other process ever takes one; one whose owner is gone lapses by
    its TTL (seconds) and then leaves no trace in a rewritten file either."""
    leases = [keys.tracker_lease(camera_id), keys.events_lease(camera_id)]
    deadline = time.monotonic() + timeout_s
    while any(client.exists(k) for k in leases) and time.monotonic() < deadline:
        time.sleep(0.1)


def delete_job(store: JobStore, job_id: str) -> tuple[JobRecord, Counter[str]]:
    """Delete the job's record and its directory (upload and outputs); returns the job and what was
    deleted. Raises :class:`UnknownJob`, and :class:`JobRunning` for a job still running (its runner
    would write its outputs again)."""
    job = store.get(job_id)
    if job is None:
        raise UnknownJob(f"no job {job_id!r}")
    if job.status not in ("done", "failed") and store.redis.exists(keys.job_owner(job_id)):
        raise JobRunning(f"job {job_id} is {job.status}: delete it once it has finished")
    store.delete(job_id)
    done: Counter[str] = Counter(job=1)
    out = job.out_dir
    if out.is_dir():
        done["files"] += sum(1 for p in out.rglob("*") if p.is_file())
        shutil.rmtree(out)
    log.info("job deleted id=%s deleted=%s", job_id, dict(done))
    return job, done


def purge_job(
    store: JobStore, job_id: str, settle_s: float = SETTLE_S, lease_wait_s: float = LEASE_WAIT_S
) -> Counter[str]:
    """:func:`delete_job`, then everything of the job's camera in Redis (:func:`purge_camera`)."""
    job, done = delete_job(store, job_id)
    done.update(purge_camera(store.redis, job.camera_id, settle_s, lease_wait_s))
    return done


def _persistence(client: redis.Redis) -> dict[str, object]:
    return cast(dict[str, object], client.info("persistence"))


def rewrite_files(client: redis.Redis, timeout_s: float = 60.0) -> list[str]:
    """Have Redis rewrite what it keeps on disk, so deleted keys leave its files: BGREWRITEAOF when the
    append-only file is on, BGSAVE when it has written an RDB snapshot since it started; waits until
    they finished. Returns what ran (``["aof"]``, ``["rdb"]``, both or none). Raises :class:`RewriteError`
    when a rewrite failed or did not finish within ``timeout_s``."""
    info = _persistence(client)
    ran: list[str] = []
    if int(cast(int, info.get("aof_enabled", 0))):
        _wait_idle(client, timeout_s)
        client.bgrewriteaof()
        ran.append("aof")
    if int(cast(int, info.get("rdb_saves", 0))):
        _wait_idle(client, timeout_s)
        client.bgsave()
        ran.append("rdb")
    _wait_idle(client, timeout_s)
    after = _persistence(client)
    for kind, field in (("aof", "aof_last_bgrewrite_status"), ("rdb", "rdb_last_bgsave_status")):
        if kind in ran and after.get(field) != "ok":
            raise RewriteError(
                f"redis could not rewrite its {kind.upper()} file ({field}={after.get(field)})"
            )
    return ran


def _wait_idle(client: redis.Redis, timeout_s: float) -> None:
    """Until no rewrite or save runs or waits (INFO persistence)."""
    busy = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
    deadline = time.monotonic() + timeout_s
    while any(int(cast(int, _persistence(client).get(f, 0))) for f in busy):
        if time.monotonic() > deadline:
            raise RewriteError(f"redis was still rewriting its files after {timeout_s:.0f} s")
        time.sleep(0.05)
