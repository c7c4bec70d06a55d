"""``emostream analyze VIDEO [VIDEO|FOLDER ...] [--out DIR]``: lossless file jobs through the same services.

Several videos (or folders of videos) run as concurrent jobs on one stack, each with its own outputs in
``DIR/<video name>/``; one video writes into ``DIR`` itself. Without ``--out``: ``./<video name>-emostream``
for one video, ``./emostream-analysis`` for several. Each video is opened and one frame decoded before
any service starts: when none is readable, nothing starts (exit 2); an unreadable one among several is
failed at once (its ``summary.json`` says why) and the others run.

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
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from services.cli.stack import PIPELINE, Interrupted, file_job_replicas, interruptible, model_env, stack
from services.common.connect import connect
from services.common.job_store import JobRecord, JobStore, read_summary
from services.common.jobs import JobError, cleanup, fail, run_job, write_failed_summary
from services.common.settings import Privacy
from services.common.sources import VIDEO_SUFFIXES


def videos_of(paths: list[Path]) -> list[Path]:
    """The videos named: files as given, folders as the video files directly in them (sorted).

    Raises ValueError naming the first path that is neither, or a folder with no video in it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not inside:
                raise ValueError(f"no video in folder {path} (expected one of {', '.join(VIDEO_SUFFIXES)})")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"no such file: {path}")
    return found


def default_out(videos: list[Path]) -> Path:
    """Where the outputs go without ``--out``: named after the one video, or one folder for several."""
    return Path(f"{videos[0].stem}-emostream") if len(videos) == 1 else Path("emostream-analysis")


def probe(video: Path) -> None:
    """Raises ValueError when ``video`` cannot be opened or has no frame that decodes."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        ok = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    if not ok:
        raise ValueError(f"cannot read {video}: not a video this machine's FFmpeg decodes, or empty")


def out_dirs(videos: list[Path], out: Path) -> list[Path]:
    """One video: ``out`` itself. Several: ``out/<name>`` each (``name-2``, ... when names repeat)."""
    if len(videos) == 1:
        return [out]
    dirs: list[Path] = []
    for video in videos:
        name, n = video.stem, 1
        while out / name in dirs:
            n += 1
            name = f"{video.stem}-{n}"
        dirs.append(out / name)
    return dirs


def new_jobs(videos: list[Path], out: Path) -> list[JobRecord]:
    """A job record per video, its output directory (:func:`out_dirs`) created."""
    jobs = []
    for path, job_out in zip(videos, out_dirs(videos, out), strict=True):
        job_out.mkdir(parents=True, exist_ok=True)
        jobs.append(JobRecord(uuid.uuid4().hex[:12], path.name, str(path.resolve()), str(job_out.resolve())))
    return jobs


def unreadable_of(videos: list[Path]) -> dict[Path, str]:
    """The videos (resolved) that :func:`probe` refuses, with the reason."""
    found = {}
    for path in videos:
        try:
            probe(path)
        except ValueError as exc:
            found[path.resolve()] = str(exc)
    return found


def analyze(
    video: Path | list[Path],
    out: Path | None,
    progress: bool = True,
    stall_timeout_s: float = 300.0,
    model: str | None = None,
    privacy: Privacy = "off",
) -> int:
    """Analyze one video, or several (files or folders of videos) as concurrent jobs on one stack;
    ``out`` None: :func:`default_out`. ``privacy`` ``"blur"``: every face in ``annotated.mp4`` blurred."""
    try:
        videos = videos_of(video if isinstance(video, list) else [video])
    except ValueError as exc:
        print(f"emostream analyze: {exc}")
        return 2
    unreadable = unreadable_of(videos)
    if len(unreadable) == len(videos):
        for reason in unreadable.values():
            print(f"emostream analyze: {reason}")
        return 2
    jobs = new_jobs(videos, out if out is not None else default_out(videos))
    for job in jobs:
        if Path(job.video) in unreadable:  # failed before it started, its summary.json saying why
            job.status, job.error = "failed", unreadable[Path(job.video)]
            write_failed_summary(job, job.error)
    try:
        with (
            interruptible(),
            stack(
                PIPELINE, env=model_env(model), only_missing=True, replicas=file_job_replicas(model)
            ) as running,
        ):
            running.wait_healthy()
            to_run = [job for job in jobs if job.status != "failed"]
            errors = run_jobs(running.redis_url, to_run, progress, stall_timeout_s, privacy)
    except Interrupted as exc:
        print(f"emostream analyze: interrupted by {exc}; stopped every service, no outputs written")
        return 128 + exc.signum
    return report(jobs, errors)


def report(jobs: list[JobRecord], errors: dict[str, str]) -> int:
    """Print each job's outcome and where its outputs went; 1 when one failed, else 0."""
    failed = 0
    for job in jobs:
        if job.status != "done":
            failed += 1
            print(
                f"emostream analyze: job failed: {errors.get(job.id) or job.error}"
                + (f" ({job.filename})" if len(jobs) > 1 else "")
            )
            continue
        summary = read_summary((Path(job.out) / "summary.json").read_bytes())
        print(
            f"emostream analyze: {summary.frames} frames in {summary.processing_s:.1f} s "
            f"({summary.processing_fps} fps), {len(summary.tracks)} tracks -> {job.out}"
        )
    return 1 if failed else 0


def run_jobs(
    redis_url: str,
    jobs: list[JobRecord],
    progress: bool = True,
    stall_timeout_s: float = 300.0,
    privacy: Privacy = "off",
) -> dict[str, str]:
    """Run ``jobs`` concurrently on the stack at ``redis_url`` (one thread each); returns the error of each
    job that failed, by job id. When interrupted, every unfinished job is failed and its keys removed
    before the exception goes on."""
    owner = f"{socket.gethostname()}-analyze-{os.getpid()}"
    errors: dict[str, str] = {}
    store = JobStore(connect(url=redis_url))
    for job in jobs:
        store.save(job)
    stop = threading.Event()

    def run_one(job: JobRecord, position: int) -> None:
        try:
            with _bar(progress, job.filename if len(jobs) > 1 else "analyze", position) as update:
                run_job(store, job, owner, stall_timeout_s, stop=stop, on_progress=update, privacy=privacy)
        except JobError as exc:
            errors[job.id] = str(exc)
        except Exception as exc:  # noqa: BLE001 -- one job's failure is reported, the others go on
            errors[job.id] = f"internal error: {exc}"

    threads = [
        threading.Thread(target=run_one, args=(job, i), name=f"job-{job.id}", daemon=True)
        for i, job in enumerate(jobs)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins: SIGINT/SIGTERM raise Interrupted here
    except BaseException:
        stop.set()
        for thread in threads:
            thread.join(10)
        for job in jobs:
            if job.status != "done":
                fail(store, job, "interrupted")
                cleanup(store.redis, job.camera_id)
        raise
    return errors


@contextmanager
def _bar(enabled: bool, desc: str = "analyze", position: int = 0) -> Iterator[Callable[[JobRecord], None]]:
    """A tqdm bar (one line per concurrent job), as the job runner's ``on_progress`` callback."""
    from tqdm import tqdm

    with tqdm(unit="frame", disable=not enabled, desc=desc, position=position) as bar:

        def update(job: JobRecord) -> None:
            if job.frames_total and bar.total != job.frames_total:
                bar.total = job.frames_total
            bar.n = job.frames_done
            bar.refresh()

        yield update
