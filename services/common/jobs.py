"""File jobs: the one job runner of ``emostream analyze`` and the UI's video jobs.

:func:`run_job` runs a job (a :class:`~services.common.job_store.JobRecord` in Redis): it registers the
video as a file camera, collects its tracks stream (:func:`collect`) into a journal on disk
(``{out}/.journal``, :mod:`services.common.job_journal`: a process that dies mid-job resumes from it, and
redeliveries are dropped by ``seq``, so each frame appears exactly once), then writes the outputs
(:mod:`services.common.job_outputs`: ``annotated.mp4``, ``tracks.csv``, ``timeline.json``) and
``summary.json``. Whoever runs a job holds its owner key (``keys.job_owner``), renewed while it runs; a
job whose owner is gone is taken over by another runner.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import cast

import msgspec
import redis

from services.common import codec, keys, registry
from services.common.job_journal import JobResult, Journal
from services.common.job_outputs import write_outputs
from services.common.job_store import FailedSummary, JobRecord, JobStore
from services.common.schema import End, Skip, Tracks
from services.common.settings import Privacy
from services.common.streams import backlog, has_group

log = logging.getLogger(__name__)


class JobError(RuntimeError):
    """The job could not finish; the message says why."""


def collect(
    client: redis.Redis,
    camera_id: str,
    stall_timeout_s: float,
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
    journal: Journal | None = None,
) -> JobResult:
    """Read the job's tracks stream until its End marker, from where ``journal`` left off (else the start).

    Idempotent on ``seq``: a redelivered frame is kept once. Redis outages are waited out (they count
    towards the stall). ``on_progress(done, total)`` is called as frames complete (``total`` 0 while
    unknown). Raises :class:`JobError` after ``stall_timeout_s`` without progress, or when ``stop`` is set.
    """
    result = JobResult()
    journal = journal or Journal(None)
    stream = keys.stream("tracks", camera_id)
    last_id = "0"

    def take(entry_id: str, fields: dict[bytes, bytes]) -> bool:
        msg = codec.decode(fields)
        if isinstance(msg, End):
            result.end = msg
            return True
        if isinstance(msg, Tracks | Skip) and msg.seq not in result.frames:
            result.frames[msg.seq] = msg
            return True
        return False

    for entry_id, fields in journal.load():
        take(entry_id, fields)
        last_id = entry_id
    last_progress = time.monotonic()
    total = 0
    while result.end is None:
        if stop is not None and stop.is_set():
            raise JobError("cancelled")
        try:
            reply = client.xread({stream: last_id}, count=256, block=500)
            kept: list[tuple[str, dict[bytes, bytes]]] = []
            for _, items in cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], reply or []):
                for raw_id, fields in items:
                    last_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                    if take(last_id, fields):
                        kept.append((last_id, fields))
                        last_progress = time.monotonic()
            journal.append(kept)
            cam = registry.get(client, camera_id)
            total = cam.total_frames if cam is not None and cam.total_frames else total
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("redis unavailable while collecting camera=%s error=%r", camera_id, str(exc))
            time.sleep(0.5)
        if on_progress is not None:
            on_progress(len(result.frames), total)
        if time.monotonic() - last_progress > stall_timeout_s:
            raise JobError(f"no progress for {stall_timeout_s:.0f} s (is every service running?)")
    return result


#: how long a finished job's cleanup waits for the events service to read the job's tracks to the end
EVENTS_DRAIN_S = 60.0


def drain_events(client: redis.Redis, camera_id: str, timeout_s: float = EVENTS_DRAIN_S) -> int:
    """Wait until the events service's group has read and acked the job's tracks stream to its end, so
    that cleanup (which deletes the stream) loses none of the job's events: the events replica that owned
    the camera may be gone, and its successor takes the camera over only when the lease lapses. Returns at
    once where no events service reads the stream; the entries still unread after ``timeout_s`` (logged)."""
    stream = keys.stream("tracks", camera_id)
    group = keys.GROUPS["events"][1]
    if not has_group(client, stream, group):
        return 0
    deadline = time.monotonic() + timeout_s
    while left := backlog(client, stream, group, 100_000):
        if time.monotonic() > deadline:
            log.warning("events not drained camera=%s entries=%d after %.0f s", camera_id, left, timeout_s)
            return left
        time.sleep(0.2)
    return 0


def cleanup(client: redis.Redis, camera_id: str) -> None:
    """Unregister the job and delete its streams and any frame it left behind."""
    registry.remove(client, camera_id)
    leftovers = list(client.scan_iter(match=keys.frame(camera_id, "*"), count=1000))
    if leftovers:
        client.delete(*leftovers)


class _OwnerKeeper:
    """Renews the job's owner key every second in a thread; :attr:`lost` is set if another took it."""

    def __init__(self, store: JobStore, job_id: str, owner: str) -> None:
        self.store, self.job_id, self.owner = store, job_id, owner
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"owner-{job_id}", daemon=True)

    def __enter__(self) -> _OwnerKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(5)
        with contextlib.suppress(redis.RedisError):
            self.store.release(self.job_id, self.owner)

    def _run(self) -> None:
        while not self._done.wait(1.0):
            try:
                if not self.store.own(self.job_id, self.owner):
                    log.warning("job taken over by another runner id=%s", self.job_id)
                    self.lost.set()
                    return
            except redis.RedisError:
                continue  # an outage: the key lapses only if it lasts past the TTL


def run_job(
    store: JobStore,
    job: JobRecord,
    owner: str,
    stall_timeout_s: float = 300.0,
    stop: threading.Event | None = None,
    on_progress: Callable[[JobRecord], None] | None = None,
    extra_outputs: Callable[[JobRecord, JobResult], None] | None = None,
    privacy: Privacy = "off",
) -> JobRecord:
    """Run ``job`` to its end (or resume it where its last runner stopped) and return its final record.

    Registers the video as a file camera unless it already is (a resumed job keeps ingest's position),
    collects the tracks into ``{out}/.journal``, writes the outputs, and records ``done`` or ``failed``
    with the reason. Raises :class:`JobError` ``"cancelled"`` when ``stop`` is set (the record stays
    unfinished, so a later runner resumes it), and when another runner owns the job. ``privacy``:
    ``"blur"`` blurs every face in ``annotated.mp4`` (services.common.privacy).

    Long because: the owner key, the journal, the outputs and the cleanup share one try/finally, which is what
    makes a job end exactly once.
    """
    client = store.redis
    if not store.own(job.id, owner):
        raise JobError(f"job {job.id} is run by another process")
    out = job.out_dir
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out / ".journal")
    t0 = time.monotonic()
    cancel = threading.Event()
    finished = False
    with _OwnerKeeper(store, job.id, owner) as keeper:
        try:
            if registry.get(client, job.camera_id) is None:
                if job.status != "queued":
                    journal.remove()  # its streams are gone (e.g. Redis lost them): start over
                registry.add(client, job.camera_id, job.video, mode="file")
            store.update(job, status="running")

            def progress(done: int, total: int) -> None:
                if keeper.lost.is_set() or (stop is not None and stop.is_set()):
                    cancel.set()
                job.frames_done, job.frames_total = done, total or job.frames_total
                with contextlib.suppress(redis.RedisError):
                    store.update(job, frames_done=job.frames_done, frames_total=job.frames_total)
                if on_progress is not None:
                    on_progress(job)

            result = collect(client, job.camera_id, stall_timeout_s, progress, cancel, journal)
            assert result.end is not None
            if result.end.error:
                raise JobError(result.end.error)
            store.update(job, status="writing")
            summary = write_outputs(job.video_path, out, result, time.monotonic() - t0, stop, privacy)
            summary = msgspec.structs.replace(summary, video=job.filename)
            raw = msgspec.json.encode(summary)
            (out / "summary.json").write_bytes(msgspec.json.format(raw, indent=2))
            job.summary = summary
            if extra_outputs is not None:
                extra_outputs(job, result)
            store.update(job, status="done", summary=summary, finished_ms=time.time_ns() // 1_000_000)
            finished = True
            log.info("job done id=%s frames=%s s=%.1f", job.id, summary.frames, time.monotonic() - t0)
        except JobError as exc:
            if cancel.is_set():
                raise JobError("cancelled" if not keeper.lost.is_set() else "taken over") from exc
            fail(store, job, str(exc))
            finished = True
        except (OSError, ValueError) as exc:
            fail(store, job, str(exc))
            finished = True
        finally:
            if finished:
                journal.remove()
                try:
                    if job.status == "done":
                        drain_events(client, job.camera_id)
                    cleanup(client, job.camera_id)
                    client.delete(keys.timeline(job.camera_id))  # the tracker's; timeline.json has it
                except redis.RedisError as exc:
                    log.warning("job cleanup failed id=%s error=%r", job.id, str(exc))
    return job


def write_failed_summary(job: JobRecord, error: str) -> None:
    """``summary.json`` of a failed job: its video and ``error``. Raises OSError."""
    summary = FailedSummary(video=job.filename, error=error)
    (job.out_dir / "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(summary), indent=2))


def fail(store: JobStore, job: JobRecord, error: str) -> None:
    """Record the job as failed with ``error`` (also in ``summary.json``)."""
    with contextlib.suppress(OSError):
        write_failed_summary(job, error)
    store.update(job, status="failed", error=error, finished_ms=time.time_ns() // 1_000_000)
    log.warning("job failed id=%s error=%r", job.id, error)
