"""Video jobs of the UI: an uploaded file becomes a lossless file job, run by the one job runner
(``common.jobs.run_job``) that ``emostream analyze`` uses.

Each job has a directory ``{data_dir}/jobs/{id}/`` holding the upload and its outputs, the same as
``emostream analyze`` writes (``annotated.mp4`` (H.264), ``tracks.csv``, ``summary.json``,
``timeline.json``), plus ``timeline.png``, the per-track emotion timeline plot. Job records live in Redis,
so every UI replica lists and serves every job; a UI that restarts (or another replica, once the owner
key of a dead one lapsed) takes unfinished jobs over, and they finish under the same id. Jobs run in
background threads, at most ``max_running`` at once; a failing job records its reason and never affects
other jobs or the cameras.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

import cv2
import redis

from services.common.job_journal import JobResult
from services.common.job_store import FILES, JobRecord, JobStore
from services.common.jobs import JobError, fail, run_job
from services.common.settings import Privacy
from services.common.sources import VIDEO_SUFFIXES
from services.common.timeline import read_tracks
from services.ui.timeline import timeline_png

log = logging.getLogger(__name__)

__all__ = ["FILES", "Job", "JobManager", "UploadError"]

Job = JobRecord


class UploadError(ValueError):
    """An upload that is refused; ``status`` is the HTTP status that says why (413, 415)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def safe_name(filename: str) -> str:
    """The upload's base name with anything but letters, digits, '.', '_', '-' replaced (for the disk)."""
    base = Path(filename or "video").name
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base).lstrip(".")
    return cleaned[-100:] or "video"


def probe_video(path: Path, filename: str, max_frame_px: int = 4096 * 2160) -> tuple[int, float]:
    """(frames, fps) of a readable video; raises :class:`UploadError` naming the file otherwise: 415 not
    a readable video, 413 frames over ``max_frame_px`` (read from the container, before any is decoded)."""
    if Path(filename).suffix.lower() not in VIDEO_SUFFIXES:
        raise UploadError(
            f"{filename!r} is not a video: expected one of {', '.join(VIDEO_SUFFIXES)}", status=415
        )
    cap = cv2.VideoCapture(str(path))
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if w * h > max_frame_px:
            raise UploadError(
                f"{filename!r} has {w}x{h} frames, over the limit of {max_frame_px:,} pixels"
                " (EMOSTREAM_MAX_FRAME_PX)",
                status=413,
            )
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise UploadError(f"{filename!r} is not a readable video (no frame could be decoded)", status=415)
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()


class JobManager:
    """Accepts uploads, runs jobs in background threads, takes over jobs left unfinished, and answers what
    each job is doing (from Redis)."""

    def __init__(
        self,
        client: redis.Redis,
        data_dir: Path,
        max_upload_bytes: int,
        stall_timeout_s: float = 300.0,
        max_running: int = 2,
        max_kept: int = 20,
        owner: str | None = None,
        adopt_interval_s: float = 5.0,
        max_frame_px: int = 4096 * 2160,
        privacy: Privacy = "off",
    ) -> None:
        """``owner``: this process's name on the jobs it runs. Every ``adopt_interval_s`` the manager
        takes over unfinished jobs whose owner is gone (:meth:`adopt_orphans`). An upload whose frames
        are over ``max_frame_px`` is refused. ``privacy``: how faces are shown in ``annotated.mp4``."""
        self.redis = client
        self.store = JobStore(client, data_dir=data_dir)
        self.data_dir = data_dir
        self.root = data_dir / "jobs"
        self.max_upload_bytes = max_upload_bytes
        self.max_frame_px = max_frame_px
        self.privacy: Privacy = privacy
        self.stall_timeout_s = stall_timeout_s
        self.max_kept = max_kept
        self.owner = owner or f"{socket.gethostname()}-ui-{os.getpid()}"
        self.stop = threading.Event()
        self._slots = threading.Semaphore(max_running)
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._adopter = threading.Thread(
            target=self._adopt_loop, args=(adopt_interval_s,), name="job-adopter", daemon=True
        )
        self._adopter.start()

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
            frames, _ = probe_video(video, filename, self.max_frame_px)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        # job references, not this host's paths: ingest (and a UI replica that takes the job over) finds
        # the files under its own EMOSTREAM_DATA_DIR, where it mounts the same job storage
        ref = f"job:{job_id}"
        name = Path(filename).name or "video"
        return Job(job_id, name, f"{ref}/{video.name}", ref, frames_total=frames, data_dir=self.data_dir)

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
        """Record the job in Redis and run it in a background thread."""
        self.store.save(job)
        log.info("job queued id=%s file=%s frames=%d", job.id, job.filename, job.frames_total)
        self._launch(job)
        self._prune()
        return job

    def _launch(self, job: Job) -> None:
        with self._lock:
            if job.id in self._running:
                return
            self._running.add(job.id)
            thread = threading.Thread(target=self._run, args=(job,), name=f"job-{job.id}", daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def get(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def all(self) -> list[Job]:
        return self.store.all()

    def adopt_orphans(self) -> list[str]:
        """Take over unfinished jobs whose owner is gone and whose video this process can read; returns
        their ids."""
        adopted = []
        for job in self.store.orphans():
            if job.id not in self._running and job.video_path.is_file():
                log.info("job taken over id=%s status=%s frames_done=%d", job.id, job.status, job.frames_done)
                self._launch(job)
                adopted.append(job.id)
        return adopted

    def _adopt_loop(self, interval_s: float) -> None:
        while not self.stop.is_set():
            try:
                self.adopt_orphans()
            except redis.RedisError as exc:
                log.warning("job adoption skipped error=%r", str(exc))
            if self.stop.wait(interval_s):
                return

    def close(self, timeout_s: float = 5.0) -> None:
        self.stop.set()
        for thread in [*self._threads, self._adopter]:
            thread.join(timeout_s)

    def _run(self, job: Job) -> None:
        try:
            with self._slots:
                if self.stop.is_set():
                    return  # stays queued in Redis: the next UI takes it over
                run_job(
                    self.store,
                    job,
                    self.owner,
                    self.stall_timeout_s,
                    stop=self.stop,
                    extra_outputs=write_timeline_png,
                    privacy=self.privacy,
                )
        except JobError as exc:
            log.info("job left to another runner id=%s reason=%s", job.id, exc)
        except Exception as exc:  # noqa: BLE001 -- a job must never take the UI down
            log.exception("job crashed id=%s", job.id)
            try:
                fail(self.store, job, f"internal error: {exc}")
            except redis.RedisError:
                log.warning("could not record the failure of job id=%s", job.id)
        finally:
            with self._lock:
                self._running.discard(job.id)

    def _prune(self) -> None:
        """Delete the oldest finished jobs beyond ``max_kept`` (their files too): disk use stays bounded."""
        finished = [j for j in self.all() if j.status in ("done", "failed")]
        for job in finished[self.max_kept :]:
            self.store.delete(job.id)
            shutil.rmtree(job.out_dir, ignore_errors=True)


def write_timeline_png(job: Job, result: JobResult) -> None:
    """The UI's extra output: ``timeline.png``, the plot of the job's ``timeline.json``."""
    summary = job.summary  # set by the runner before its extra outputs, while the job is still "writing"
    tracks = read_tracks((job.out_dir / "timeline.json").read_bytes())
    png = timeline_png(
        tracks,
        summary.frames if summary is not None else len(result.frames),
        summary.fps if summary is not None and summary.fps > 0 else 25.0,
    )
    (job.out_dir / "timeline.png").write_bytes(png)
