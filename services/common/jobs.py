"""File jobs: the one job runner of ``emostream analyze`` and the UI's video jobs.

A job is a :class:`JobRecord` in Redis (``keys.job``), so any UI replica serves any job and a restart
loses none. :func:`run_job` registers the video as a file camera, collects its tracks stream into a
journal on disk (``{out}/.journal``: a process that dies mid-job resumes from it, and redeliveries are
dropped by ``seq``, so each frame appears exactly once), then writes the outputs: ``annotated.mp4``,
``tracks.csv``, ``timeline.json`` and ``summary.json``. Whoever runs a job holds its owner key
(``keys.job_owner``), renewed while it runs; a job whose owner is gone is taken over by another runner.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import cv2
import msgspec
import numpy as np
import redis

from services.common import codec, keys, registry
from services.common.annotate import draw_tracks
from services.common.labels import CANONICAL_LABELS
from services.common.schema import End, Message, Skip, Tracks

log = logging.getLogger(__name__)

CSV_HEAD = ["frame", "time_s", "track_id", "x1", "y1", "x2", "y2", "label", "confidence", "raw_label"]


class JobError(RuntimeError):
    """The job could not finish; the message says why."""


@dataclass
class JobResult:
    frames: dict[int, Message] = field(default_factory=dict)  # seq -> Tracks or Skip
    end: End | None = None


class H264Writer:
    """Writes BGR frames to an H.264 MP4 that browsers play (OpenCV's ``mp4v`` is not playable there).

    Uses the ffmpeg binary (with libx264) bundled in the imageio-ffmpeg wheel; one output frame per
    frame written (constant rate ``fps``); odd sizes are padded by one pixel (yuv420p needs even sizes).
    """

    def __init__(self, path: Path, fps: float, size_wh: tuple[int, int]) -> None:
        import imageio_ffmpeg  # only the processes that write videos need it

        self.size_wh = size_wh
        self._gen = imageio_ffmpeg.write_frames(
            str(path),
            size_wh,
            fps=fps,
            codec="libx264",
            pix_fmt_in="bgr24",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,
            ffmpeg_log_level="error",
            output_params=[
                *("-preset", "veryfast", "-crf", "23", "-movflags", "+faststart"),
                *("-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"),
            ],
        )
        self._gen.send(None)

    def write(self, frame_bgr: np.ndarray) -> None:
        h, w = frame_bgr.shape[:2]
        if (w, h) != self.size_wh:
            raise ValueError(f"frame is {w}x{h}, the video is {self.size_wh[0]}x{self.size_wh[1]}")
        self._gen.send(np.ascontiguousarray(frame_bgr, dtype=np.uint8))

    def close(self) -> None:
        self._gen.close()


class Journal:
    """Append-only record of the tracks entries a job has collected: ``(entry_id, fields)`` as msgpack,
    each behind a 4-byte length. A torn last record (the process died while writing it) is ignored."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> list[tuple[str, dict[bytes, bytes]]]:
        if self.path is None or not self.path.is_file():
            return []
        data = self.path.read_bytes()
        records: list[tuple[str, dict[bytes, bytes]]] = []
        pos = 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos : pos + 4], "big")
            if pos + 4 + size > len(data):
                break
            try:
                entry_id, fields = msgspec.msgpack.decode(data[pos + 4 : pos + 4 + size])
                records.append((str(entry_id), dict(fields)))
            except (msgspec.DecodeError, TypeError, ValueError):
                break
            pos += 4 + size
        if pos < len(data):  # cut the torn tail, so later appends follow a whole record
            with open(self.path, "r+b") as fh:
                fh.truncate(pos)
        return records

    def append(self, records: list[tuple[str, dict[bytes, bytes]]]) -> None:
        if self.path is None or not records:
            return
        blob = b"".join(
            len(raw).to_bytes(4, "big") + raw for raw in (msgspec.msgpack.encode(list(r)) for r in records)
        )
        with open(self.path, "ab") as fh:
            fh.write(blob)
            fh.flush()

    def remove(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


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


def write_outputs(video: Path, out: Path, result: JobResult, processing_s: float) -> dict[str, object]:
    """Annotate every frame of ``video`` and write the outputs and ``timeline.json``; returns the summary."""
    cap = cv2.VideoCapture(str(video))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
    writer: H264Writer | None = None
    per_track: dict[int, Counter[str]] = {}
    first_last: dict[int, list[int]] = {}
    probs_sum: dict[int, Counter[str]] = {}
    index = 0
    with open(out / "tracks.csv", "w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(CSV_HEAD + [f"p_{label}" for label in CANONICAL_LABELS])
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = H264Writer(out / "annotated.mp4", fps, (w, h))
            msg = result.frames.get(index)
            tracks = msg.tracks if isinstance(msg, Tracks) else ()
            draw_tracks(frame, tracks)
            writer.write(frame)
            for t in tracks:
                rows.writerow(
                    [
                        index,
                        f"{index / fps:.3f}",
                        t.track_id,
                        *(f"{v:.1f}" for v in t.box_xyxy),
                        t.label,
                        f"{t.confidence:.4f}",
                        t.raw_label,
                        *(f"{t.probs.get(label, 0.0):.4f}" for label in CANONICAL_LABELS),
                    ]
                )
                per_track.setdefault(t.track_id, Counter())[t.label] += 1
                first_last.setdefault(t.track_id, [index, index])[1] = index
                probs_sum.setdefault(t.track_id, Counter()).update(t.probs)
            index += 1
    cap.release()
    if writer is not None:
        writer.close()
    (out / "timeline.json").write_text(json.dumps(timeline(result, fps), indent=1))
    summary: dict[str, object] = {
        "video": str(video),
        "frames": index,
        "fps": round(fps, 3),
        "processing_s": round(processing_s, 3),
        "processing_fps": round(index / processing_s, 2) if processing_s > 0 else None,
        "frames_with_faces": sum(1 for m in result.frames.values() if isinstance(m, Tracks) and m.tracks),
        "frames_skipped": sum(1 for m in result.frames.values() if isinstance(m, Skip)),
        "tracks": [
            {
                "track_id": tid,
                "frames": sum(labels.values()),
                "first_frame": first_last[tid][0],
                "last_frame": first_last[tid][1],
                "dominant_emotion": labels.most_common(1)[0][0],
                "mean_probs": {k: round(v / sum(labels.values()), 4) for k, v in probs_sum[tid].items()},
            }
            for tid, labels in sorted(per_track.items())
        ],
    }
    return summary


def timeline(result: JobResult, fps: float) -> list[dict[str, Any]]:
    """Per track, the segments of its shown label (``timeline.json``)::

        [{"track_id": int, "segments": [{"label": str, "start_frame": int, "end_frame": int,  # inclusive
                                         "start_s": float, "end_s": float, "frames": int,
                                         "mean_probs": {label: float}}]}]   # smoothed, averaged

    A segment ends where the shown label changes; frames where the track is not seen do not split it.
    """
    tracks: dict[int, list[dict[str, Any]]] = {}
    sums: dict[tuple[int, int], Counter[str]] = {}
    for seq in sorted(result.frames):
        msg = result.frames[seq]
        for t in msg.tracks if isinstance(msg, Tracks) else ():
            segs = tracks.setdefault(t.track_id, [])
            if not segs or segs[-1]["label"] != t.label:
                segs.append(
                    {"label": t.label, "start_frame": seq, "start_s": round(seq / fps, 3), "frames": 0}
                )
            seg = segs[-1]
            seg.update(end_frame=seq, end_s=round(seq / fps, 3), frames=seg["frames"] + 1)
            sums.setdefault((t.track_id, len(segs)), Counter()).update(t.probs)
    for tid, segs in tracks.items():
        for i, seg in enumerate(segs, start=1):
            seg["mean_probs"] = {k: round(v / seg["frames"], 4) for k, v in sums[(tid, i)].items()}
    return [{"track_id": tid, "segments": segs} for tid, segs in sorted(tracks.items())]


def cleanup(client: redis.Redis, camera_id: str) -> None:
    """Unregister the job and delete its streams and any frame it left behind."""
    registry.remove(client, camera_id)
    leftovers = list(client.scan_iter(match=f"frame:{camera_id}:*", count=1000))
    if leftovers:
        client.delete(*leftovers)


JOB_STATUSES = ("queued", "running", "writing", "done", "failed")
#: the files a job may serve, with their media types (``timeline.png`` is the UI's extra output)
FILES = {
    "annotated.mp4": "video/mp4",
    "tracks.csv": "text/csv",
    "summary.json": "application/json",
    "timeline.json": "application/json",
    "timeline.png": "image/png",
}
UNFINISHED = ("queued", "running", "writing")


@dataclass
class JobRecord:
    """A file job as stored in Redis (``keys.job``). ``video`` and ``out`` are paths on the runner's disk."""

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
    summary: dict[str, Any] = field(default_factory=dict)

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
        return [name for name in FILES if Path(self.out, name).is_file()]

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
            "summary": self.summary,
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
            "summary": json.dumps(self.summary),
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
            summary=json.loads(f.get("summary") or "{}"),
        )


_RENEW_OWNER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
    "return redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0"
)


class JobStore:
    """Job records in Redis: any process on the same Redis sees, runs and serves every job."""

    def __init__(self, client: redis.Redis, owner_ttl_ms: int = 10_000) -> None:
        self.redis = client
        self.owner_ttl_ms = owner_ttl_ms
        self._own = client.register_script(_RENEW_OWNER)

    def save(self, job: JobRecord) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.job(job.id), mapping=job.to_redis())  # type: ignore[arg-type]
        pipe.zadd(keys.JOBS, {job.id: job.created_ms})
        pipe.execute()

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
            return JobRecord.from_redis(cast(dict[bytes, bytes], raw))
        except (KeyError, ValueError) as exc:
            log.warning("malformed job record id=%s error=%r", job_id, str(exc))
            return None

    def all(self) -> list[JobRecord]:
        """Newest first."""
        ids = [i.decode() for i in cast(list[bytes], self.redis.zrevrange(keys.JOBS, 0, -1))]
        return [j for j in (self.get(i) for i in ids) if j is not None]

    def delete(self, job_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.job(job_id), keys.job_owner(job_id))
        pipe.zrem(keys.JOBS, job_id)
        pipe.execute()

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
) -> JobRecord:
    """Run ``job`` to its end (or resume it where its last runner stopped) and return its final record.

    Registers the video as a file camera unless it already is (a resumed job keeps ingest's position),
    collects the tracks into ``{out}/.journal``, writes the outputs, and records ``done`` or ``failed``
    with the reason. Raises :class:`JobError` ``"cancelled"`` when ``stop`` is set (the record stays
    unfinished, so a later runner resumes it), and when another runner owns the job.
    """
    client = store.redis
    if not store.own(job.id, owner):
        raise JobError(f"job {job.id} is run by another process")
    out = Path(job.out)
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
            summary = write_outputs(Path(job.video), out, result, time.monotonic() - t0)
            summary = {"status": "done", **summary, "video": job.filename}
            (out / "summary.json").write_text(json.dumps(summary, indent=2))
            job.summary = summary
            if extra_outputs is not None:
                extra_outputs(job, result)
            store.update(job, status="done", summary=summary, finished_ms=time.time_ns() // 1_000_000)
            finished = True
            log.info("job done id=%s frames=%s s=%.1f", job.id, summary["frames"], time.monotonic() - t0)
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
                    cleanup(client, job.camera_id)
                    client.delete(keys.timeline(job.camera_id))  # the tracker's; timeline.json has it
                except redis.RedisError as exc:
                    log.warning("job cleanup failed id=%s error=%r", job.id, str(exc))
    return job


def fail(store: JobStore, job: JobRecord, error: str) -> None:
    """Record the job as failed with ``error`` (also in ``summary.json``)."""
    with contextlib.suppress(OSError):
        Path(job.out, "summary.json").write_text(
            json.dumps({"video": job.filename, "status": "failed", "error": error}, indent=2)
        )
    store.update(job, status="failed", error=error, finished_ms=time.time_ns() // 1_000_000)
    log.warning("job failed id=%s error=%r", job.id, error)
