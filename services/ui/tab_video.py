"""The Video tab: upload a video, follow its job, get the annotated video, the files and the plot."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
import redis

from services.ui.dashboard_kit import PRIVATE, Parts, local_examples
from services.ui.job_html import error_html, job_progress_html, job_result_html
from services.ui.job_manager import UploadError

JOB_POLL_S = 0.3


def run_job(p: Parts, path: str | None) -> Iterator[tuple[Any, Any]]:
    """Submit the uploaded file as a job and yield its progress, then its result."""
    if not path:
        yield "", ""
        return
    try:
        job = p.jobs.submit_path(Path(path), Path(path).name)
    except UploadError as exc:
        yield error_html(f"Refused: {exc}"), ""
        return
    while job.status not in ("done", "failed"):
        yield job_progress_html(job), gr.skip()
        if p.jobs.stop.wait(JOB_POLL_S):
            return
        try:
            job = p.jobs.get(job.id) or job
        except redis.RedisError:
            continue  # Redis restarting: the job goes on, the bar waits
    yield job_progress_html(job), job_result_html(job)


def video_tab(p: Parts) -> None:
    """Build the tab's components (inside ``gr.Blocks``) and wire the upload."""
    gr.Markdown(
        f"Upload a video (at most {p.jobs.limit_text()}): every frame is analyzed; you get an "
        "annotated H.264 video, `tracks.csv`, `timeline.json` and a timeline plot."
    )
    upload = local_examples(
        gr.File(label="Video file", file_types=["video"], type="filepath", elem_id="emo-upload")
    )
    status = gr.HTML("", elem_id="emo-job-status")
    result = gr.HTML("", elem_id="emo-job-result")
    upload.upload(partial(run_job, p), [upload], [status, result], concurrency_limit=None, **PRIVATE)
