"""The Video tab's HTML for a job: its progress line, its result (video, downloads, timeline plot), a
refusal. Pure: a job in, a string out, every user-given text escaped."""

from __future__ import annotations

import html

from services.ui.job_manager import Job


def job_progress_html(job: Job) -> str:
    """The job's status line and progress bar (a plain element: no Gradio progress overlay)."""
    pct = round(job.progress * 100, 1)
    frames = f"{job.frames_done}/{job.frames_total or '?'} frames"
    text = {
        "queued": "queued",
        "running": f"analyzing: {frames}",
        "writing": "writing the annotated video",
        "done": f"done: {job.summary.frames if job.summary else job.frames_done} frames",
        "failed": f"failed: {job.error}",
    }.get(job.status, job.status)
    return (
        f'<div class="emo-job" data-job="{job.id}" data-status="{job.status}">'
        f"<div><b>{html.escape(job.filename)}</b> · {html.escape(text)}</div>"
        f'<div class="emo-progress"><div class="emo-progress-fill" style="width:{pct}%"></div></div></div>'
    )


def job_result_html(job: Job) -> str:
    """The annotated video (H.264, plays in the browser), the downloads and the timeline plot."""
    if job.status != "done":
        return ""
    files = job.json()["files"]
    links = "".join(
        f'<a class="emo-download" href="{url}" download="{name}">{name}</a>'
        for name, url in files.items()
        if name in ("tracks.csv", "timeline.json", "summary.json")
    )
    plot = (
        f'<img class="emo-timeline" src="{files["timeline.png"]}" alt="emotion timeline per track">'
        if "timeline.png" in files
        else ""
    )
    tracks = len(job.summary.tracks) if job.summary else 0
    return (
        f'<div class="emo-job-result" data-job="{job.id}">'
        f'<video id="emo-job-video" src="{files.get("annotated.mp4", "")}" controls muted playsinline>'
        "</video>"
        f'<div class="emo-downloads">{links}</div>'
        f"<div>{tracks} track(s); emotion timeline per track:</div>{plot}</div>"
    )


def error_html(message: str) -> str:
    return f'<div class="emo-job emo-job-error" data-status="refused">{html.escape(message)}</div>'
