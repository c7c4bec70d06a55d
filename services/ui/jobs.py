"""Video jobs of the UI: an uploaded file becomes a lossless file job, run like ``emostream analyze``.

Each job has a directory ``{data_dir}/jobs/{id}/`` holding the upload and its outputs, the same as
``emostream analyze`` writes (``annotated.mp4`` (H.264), ``tracks.csv``, ``summary.json``,
``timeline.json``), plus ``timeline.png``, the per-track emotion timeline plot.
Jobs run in background threads, at most ``max_running`` at once; a failing job
records its reason and never affects other jobs or the cameras.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import redis

from services.common import jobs as file_jobs
from services.common import keys, registry
from services.ui.timeline import timeline_png

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
#: the files a job may serve, with their media types
FILES = {
    "annotated.mp4": "video/mp4",
    "tracks.csv": "text/csv",
    "summary.json": "application/json",
    "timeline.json": "application/json",
    "timeline.png": "image/png",
}


class UploadError(ValueError):
    """An upload that is refused; ``status`` is the HTTP status that says why (413, 415)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    id: str
    filename: str
    video: Path
    out: Path
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
        return [name for name in FILES if (self.out / name).is_file()]

    def json(self) -> dict[str, Any]:
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


def safe_name(filename: str) -> str:
    """The upload's base name with anything but letters, digits, '.', '_', '-' replaced (for the disk)."""
    base = Path(filename or "video").name
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base).lstrip(".")
    return cleaned[-100:] or "video"


def probe_video(path: Path, filename: str) -> tuple[int, float]:
    """(frames, fps) of a readable video; raises :class:`UploadError` (415) naming the file otherwise."""
    if Path(filename).suffix.lower() not in VIDEO_SUFFIXES:
        raise UploadError(
            f"{filename!r} is not a video: expected one of {', '.join(VIDEO_SUFFIXES)}", status=415
        )
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise UploadError(f"{filename!r} is not a readable video (no frame could be decoded)", status=415)
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()


class JobManager:
    """Accepts uploads, runs jobs in background threads, and answers what each job is doing."""

    def __init__(
        self,
        client: redis.Redis,
        data_dir: Path,
        max_upload_bytes: int,
        stall_timeout_s: float = 300.0,
        max_running: int = 2,
        max_kept: int = 20,
    ) -> None:
        self.redis = client
        self.root = data_dir / "jobs"
        self.max_upload_bytes = max_upload_bytes
        self.stall_timeout_s = stall_timeout_s
        self.max_kept = max_kept
        self.stop = threading.Event()
        self._slots = threading.Semaphore(max_running)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- uploads ----------------------------------------------------------------------------------------
    def limit_text(self) -> str:
        return f"{self.max_upload_bytes / 1024 / 1024:g} MB"

    def save_upload(self, filename: str, chunks: Iterable[bytes]) -> Job:
        """Write the upload to a new job directory, refusing it past the size limit or when it is not a
        readable video (:class:`UploadError`); returns the job, not yet started."""
        job_id = uuid.uuid4().hex[:12]
        out = self.root / job_id
        out.mkdir(parents=True, exist_ok=True)
        video = out / f"input-{safe_name(filename)}"
        size = 0
        try:
            with open(video, "wb") as fh:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_upload_bytes:
                        raise UploadError(
                            f"upload too large: over the limit of {self.limit_text()}", status=413
                        )
                    fh.write(chunk)
            if size == 0:
                raise UploadError(f"{filename!r} is empty, not a video", status=415)
            frames, _ = probe_video(video, filename)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        return Job(job_id, Path(filename).name or "video", video, out, frames_total=frames)

    def submit_path(self, path: Path, filename: str | None = None) -> Job:
        """Copy a local file (e.g. one Gradio received) into a new job and start it."""
        name = filename or path.name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UploadError(f"cannot read {name!r}: {exc.strerror}", status=415) from exc
        if size > self.max_upload_bytes:
            raise UploadError(f"upload too large: over the limit of {self.limit_text()}", status=413)

        def chunks() -> Iterable[bytes]:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    yield chunk

        return self.start(self.save_upload(name, chunks()))

    # -- running ----------------------------------------------------------------------------------------
    def start(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
        thread = threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        log.info("job queued id=%s file=%s frames=%d", job.id, job.filename, job.frames_total)
        self._prune()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created_ms, reverse=True)

    def close(self, timeout_s: float = 5.0) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def _run(self, job: Job) -> None:
        with self._slots:
            if self.stop.is_set():
                self._fail(job, "server stopping")
                return
            t0 = time.monotonic()
            job.status = "running"
            try:
                registry.add(self.redis, job.camera_id, str(job.video), mode="file")

                def progress(done: int, total: int) -> None:
                    job.frames_done = done
                    job.frames_total = total or job.frames_total

                result = file_jobs.collect(
                    self.redis, job.camera_id, self.stall_timeout_s, on_progress=progress, stop=self.stop
                )
                assert result.end is not None
                if result.end.error:
                    raise file_jobs.JobError(result.end.error)
                job.status = "writing"
                summary = file_jobs.write_outputs(job.video, job.out, result, time.monotonic() - t0)
                summary = {"status": "done", **summary, "video": job.filename}
                (job.out / "summary.json").write_text(json.dumps(summary, indent=2))
                fps, frames = summary.get("fps"), summary.get("frames")
                png = timeline_png(
                    result,
                    frames if isinstance(frames, int) else len(result.frames),
                    fps if isinstance(fps, float | int) and fps > 0 else 25.0,
                )
                (job.out / "timeline.png").write_bytes(png)
                job.summary = summary
                job.status = "done"
                job.finished_ms = time.time_ns() // 1_000_000
                log.info("job done id=%s frames=%s s=%.1f", job.id, summary["frames"], time.monotonic() - t0)
            except (file_jobs.JobError, redis.RedisError, OSError, ValueError) as exc:
                self._fail(job, str(exc))
            except Exception as exc:  # noqa: BLE001 -- a job must never take the UI down
                log.exception("job crashed id=%s", job.id)
                self._fail(job, f"internal error: {exc}")
            finally:
                try:
                    file_jobs.cleanup(self.redis, job.camera_id)
                    self.redis.delete(keys.timeline(job.camera_id))  # the tracker's; timeline.json has it
                except redis.RedisError as exc:
                    log.warning("job cleanup failed id=%s error=%r", job.id, str(exc))

    def _fail(self, job: Job, error: str) -> None:
        job.status, job.error = "failed", error
        job.finished_ms = time.time_ns() // 1_000_000
        (job.out / "summary.json").write_text(
            json.dumps({"video": job.filename, "status": "failed", "error": error}, indent=2)
        )
        log.warning("job failed id=%s error=%r", job.id, error)

    def _prune(self) -> None:
        """Delete the oldest finished jobs beyond ``max_kept`` (their files too): disk use stays bounded."""
        finished = [j for j in self.all() if j.status in ("done", "failed")]
        for job in finished[self.max_kept :]:
            with self._lock:
                self._jobs.pop(job.id, None)
            shutil.rmtree(job.out, ignore_errors=True)
