"""File jobs in Redis: the job record (:class:`JobRecord`), its summary, and the store (:class:`JobStore`).

A job is a hash in Redis (``keys.job``) listed in ``keys.JOBS``, so any UI replica serves any job and a
restart loses none. Whoever runs a job holds its owner key (``keys.job_owner``); a job whose owner key
lapsed is an orphan that another runner may take over (:meth:`JobStore.orphans`). The runner itself is
``services.common.jobs``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import msgspec
import redis

from services.common import keys
from services.common.sources import local_path

log = logging.getLogger(__name__)

JOB_STATUSES = ("queued", "running", "writing", "done", "failed")
UNFINISHED = ("queued", "running", "writing")
#: the files a job may serve, with their media types (``timeline.png`` is the UI's extra output)
FILES = {
    "annotated.mp4": "video/mp4",
    "tracks.csv": "text/csv",
    "counts.csv": "text/csv",  # the aggregate identity mode's, instead of tracks
    "summary.json": "application/json",
    "timeline.json": "application/json",
    "timeline.png": "image/png",
}


class TrackSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One track of a finished job: its frames, first and last frame (``seq``, the video's frame index,
    spelt as in the timeline), most frequent shown label and mean smoothed probabilities (rounded to 4
    decimals). Summaries written before were spelt ``first_frame``/``last_frame``; :func:`read_summary`
    reads both."""

    track_id: int
    frames: int
    first_seq: int
    last_seq: int
    dominant_emotion: str
    mean_probs: dict[str, float]


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    """``summary.json`` of a finished job (and the record's ``summary``, as JSON)."""

    status: Literal["done"] = "done"
    video: str  # the uploaded file's name (the path on the runner's disk while the outputs are written)
    frames: int
    fps: float
    processing_s: float
    processing_fps: float | None  # None when the job took no measurable time
    frames_with_faces: int
    frames_skipped: int
    tracks: tuple[TrackSummary, ...]


class FailedSummary(msgspec.Struct, frozen=True, kw_only=True):
    """``summary.json`` of a failed job."""

    video: str
    status: Literal["failed"] = "failed"
    error: str


@dataclass
class JobRecord:
    """A file job as stored in Redis (``keys.job``). ``video`` and ``out`` are paths on the runner's disk
    (``analyze``), or job references, ``job:ID/NAME`` and ``job:ID`` (the UI's jobs: the same on every
    host that mounts the job storage; ``data_dir`` is where this host has it, set by :class:`JobStore`).

    ``summary`` is the job's :class:`JobSummary` once it is done (None before); the REST API answers it
    as JSON (``{}`` before).
    """

    id: str
    filename: str
    video: str
    out: str
    status: str = "queued"  # queued | running | writing | done | failed
    frames_done: int = 0
    frames_total: int = 0
    error: str = ""
    created_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    finished_ms: int = 0
    summary: JobSummary | None = None
    data_dir: Path | None = field(default=None, repr=False, compare=False)  # not stored: this host's

    @property
    def out_dir(self) -> Path:
        """The output directory on this host."""
        return local_path(self.out, self.data_dir)

    @property
    def video_path(self) -> Path:
        """The video on this host."""
        return local_path(self.video, self.data_dir)

    @property
    def camera_id(self) -> str:
        return f"job-{self.id}"

    @property
    def progress(self) -> float:
        """0..1: frames through the pipeline; 1 only when the outputs are written."""
        if self.status == "done":
            return 1.0
        if not self.frames_total:
            return 0.0
        return min(0.99, self.frames_done / self.frames_total)

    def files(self) -> list[str]:
        if self.status != "done":
            return []
        return [name for name in FILES if (self.out_dir / name).is_file()]

    def json(self) -> dict[str, Any]:
        """What the REST API answers for the job."""
        return {
            "id": self.id,
            "filename": self.filename,
            "status": self.status,
            "progress": round(self.progress, 4),
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "error": self.error,
            "created_ms": self.created_ms,
            "finished_ms": self.finished_ms or None,
            "files": {name: f"/api/jobs/{self.id}/files/{name}" for name in self.files()},
            "summary": msgspec.to_builtins(self.summary) if self.summary else {},
        }

    def to_redis(self) -> dict[str, str | int]:
        return {
            "id": self.id,
            "filename": self.filename,
            "video": self.video,
            "out": self.out,
            "status": self.status,
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "error": self.error,
            "created_ms": self.created_ms,
            "finished_ms": self.finished_ms,
            "summary": msgspec.json.encode(self.summary).decode() if self.summary else "{}",
        }

    @classmethod
    def from_redis(cls, raw: dict[bytes, bytes]) -> JobRecord:
        """Raises KeyError or ValueError for a malformed record."""
        f = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(
            id=f["id"],
            filename=f["filename"],
            video=f["video"],
            out=f["out"],
            status=f["status"] if f.get("status") in JOB_STATUSES else "failed",
            frames_done=int(f.get("frames_done") or 0),
            frames_total=int(f.get("frames_total") or 0),
            error=f.get("error", ""),
            created_ms=int(f.get("created_ms") or 0),
            finished_ms=int(f.get("finished_ms") or 0),
            summary=_summary_of(f.get("summary") or "{}"),
        )


#: a summary's old spellings and the one each became
_OLD_TRACK_FIELDS = {"first_frame": "first_seq", "last_frame": "last_seq"}


def read_summary(raw: bytes | str) -> JobSummary:
    """A ``summary.json`` (or a record's ``summary``), also one written with the old field names.

    Raises ``msgspec.ValidationError`` (a ValueError) or ``msgspec.DecodeError`` when malformed."""
    doc = msgspec.json.decode(raw)
    if isinstance(doc, dict) and isinstance(doc.get("tracks"), list):
        doc["tracks"] = [
            {_OLD_TRACK_FIELDS.get(k, k): v for k, v in t.items()} if isinstance(t, dict) else t
            for t in doc["tracks"]
        ]
    return msgspec.convert(doc, JobSummary)


def _summary_of(raw: str) -> JobSummary | None:
    """The stored summary; None for ``{}`` (not done yet) or a malformed one (logged)."""
    if raw.strip() in ("", "{}"):
        return None
    try:
        return read_summary(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.warning("malformed job summary error=%r", str(exc))
        return None


_RENEW_OWNER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0"
)


class JobStore:
    """Job records in Redis: any process on the same Redis sees, runs and serves every job."""

    def __init__(self, client: redis.Redis, owner_ttl_ms: int = 10_000, data_dir: Path | None = None) -> None:
        """``data_dir``: where job references (``job:ID/NAME``) resolve on this host."""
        self.redis = client
        self.data_dir = data_dir
        self.owner_ttl_ms = owner_ttl_ms
        self._own = client.register_script(_RENEW_OWNER)

    def save(self, job: JobRecord) -> None:
        # the record, then the index (two slots on a Redis Cluster): a listed job always has a record
        self.redis.hset(keys.job(job.id), mapping=job.to_redis())  # type: ignore[arg-type]  # redis-py's mapping is invariant in its key type
        self.redis.zadd(keys.JOBS, {job.id: job.created_ms})

    def update(self, job: JobRecord, **fields: Any) -> None:
        """Set ``fields`` on ``job`` and in its record."""
        for name, value in fields.items():
            setattr(job, name, value)
        stored = job.to_redis()
        self.redis.hset(keys.job(job.id), mapping={k: stored[k] for k in fields})

    def get(self, job_id: str) -> JobRecord | None:
        raw = self.redis.hgetall(keys.job(job_id))
        if not raw:
            return None
        try:
            job = JobRecord.from_redis(cast(dict[bytes, bytes], raw))
            job.data_dir = self.data_dir
            return job
        except (KeyError, ValueError) as exc:
            log.warning("malformed job record id=%s error=%r", job_id, str(exc))
            return None

    def all(self) -> list[JobRecord]:
        """Newest first."""
        ids = [i.decode() for i in cast(list[bytes], self.redis.zrevrange(keys.JOBS, 0, -1))]
        return [j for j in (self.get(i) for i in ids) if j is not None]

    def delete(self, job_id: str) -> None:
        self.redis.zrem(keys.JOBS, job_id)  # unlisted first, then gone (each key alone: cluster slots)
        self.redis.delete(keys.job(job_id))
        self.redis.delete(keys.job_owner(job_id))

    def own(self, job_id: str, owner: str) -> bool:
        """Take or renew the job's owner key for ``owner``; False when another owner holds it."""
        return bool(self._own(keys=[keys.job_owner(job_id)], args=[owner, self.owner_ttl_ms]))

    def release(self, job_id: str, owner: str) -> None:
        if self.redis.get(keys.job_owner(job_id)) == owner.encode():
            self.redis.delete(keys.job_owner(job_id))

    def orphans(self) -> list[JobRecord]:
        """Unfinished jobs whose owner is gone (its key lapsed): another runner may take them over."""
        return [
            j for j in self.all() if j.status in UNFINISHED and not self.redis.exists(keys.job_owner(j.id))
        ]
