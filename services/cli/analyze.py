"""``emostream analyze VIDEO --out DIR``: a lossless file job through the same services and Redis.

Runs the one job runner (``common.jobs.run_job``) that the UI's video jobs use, in the foreground with a
progress bar, on a supervised stack: a service that crashes mid-job is restarted and the job finishes.
Writes ``annotated.mp4`` (every input frame), ``tracks.csv`` (one row per frame and track),
``timeline.json`` (per track, the segments of its shown label) and ``summary.json``. Exit status 1
when the job fails (the reason is printed and kept in the summary), 128 + the signal number when
interrupted by SIGINT or SIGTERM (every process it started is stopped first).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import redis

from services.cli.stack import PIPELINE, Interrupted, interruptible, model_env, stack
from services.common.job_store import JobRecord, JobStore, JobSummary
from services.common.jobs import JobError, cleanup, fail, run_job


def analyze(
    video: Path, out: Path, progress: bool = True, stall_timeout_s: float = 300.0, model: str | None = None
) -> int:
    if not video.is_file():
        print(f"emostream analyze: no such file: {video}")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    job = JobRecord(uuid.uuid4().hex[:12], video.name, str(video.resolve()), str(out.resolve()))
    try:
        with interruptible(), stack(PIPELINE, env=model_env(model), only_missing=True) as running:
            running.wait_healthy()
            store = JobStore(redis.Redis.from_url(running.redis_url))
            store.save(job)
            try:
                with _bar(progress) as update:
                    run_job(
                        store,
                        job,
                        f"{socket.gethostname()}-analyze-{os.getpid()}",
                        stall_timeout_s,
                        on_progress=update,
                    )
            except BaseException:
                fail(store, job, "interrupted")
                cleanup(store.redis, job.camera_id)
                raise
    except Interrupted as exc:
        print(f"emostream analyze: interrupted by {exc}; stopped every service, no outputs written")
        return 128 + exc.signum
    except JobError as exc:
        print(f"emostream analyze: job failed: {exc}")
        return 1
    if job.status != "done":
        print(f"emostream analyze: job failed: {job.error}")
        return 1
    summary = msgspec.json.decode((out / "summary.json").read_bytes(), type=JobSummary)
    print(
        f"emostream analyze: {summary.frames} frames in {summary.processing_s:.1f} s "
        f"({summary.processing_fps} fps), {len(summary.tracks)} tracks -> {out}"
    )
    return 0


@contextmanager
def _bar(enabled: bool) -> Iterator[Callable[[JobRecord], None]]:
    """A tqdm bar, as the job runner's ``on_progress`` callback."""
    from tqdm import tqdm

    with tqdm(unit="frame", disable=not enabled, desc="analyze") as bar:

        def update(job: JobRecord) -> None:
            if job.frames_total and bar.total != job.frames_total:
                bar.total = job.frames_total
            bar.n = job.frames_done
            bar.refresh()

        yield update
