"""The History tab: a camera's share of each shown label over 5 minutes, an hour or a day, its tracks'
strips, and the CSV (:mod:`services.ui.history`)."""

from __future__ import annotations

import html
import json
from functools import partial
from typing import Any

import gradio as gr
import redis

from services.common import keys
from services.ui import history
from services.ui.dashboard_kit import PRIVATE, Parts
from services.ui.job_html import error_html
from services.ui.state import now_ms


def cameras(p: Parts, current: str | None) -> Any:
    """The camera choices, keeping the current one while it exists."""
    names = sorted(v.camera.camera_id for v in p.state.views())
    return gr.update(choices=names, value=current if current in names else (names[0] if names else None))


def view(p: Parts, camera: str | None, span: str) -> tuple[str, str]:
    """The chart (with its CSV link) and the strips of ``camera`` over ``span``."""
    if not camera:
        return '<div class="emo-muted">Pick a camera.</div>', ""
    minutes = history.RANGES.get(span, 60)
    end = now_ms()
    start = end - minutes * 60_000
    try:
        buckets = history.read(p.client, camera, minutes, end)
        raw = p.client.get(keys.timeline(camera))
    except redis.RedisError as exc:
        return error_html(f"Redis unavailable: {exc}"), ""
    timeline = json.loads(raw) if raw else None
    points = history.resample(buckets, start, end)
    link = (
        f'<a class="emo-history-csv" href="/api/cameras/{html.escape(camera)}/history.csv'
        f'?minutes={minutes}" download>CSV of these {minutes} minutes</a>'
    )
    return history.chart_svg(points, start, end) + link, history.strips_svg(timeline, start, end)


def history_tab(p: Parts, tab: gr.Tab) -> None:
    """Build the tab's components (inside its ``gr.Tab``) and wire them: the camera list is read when the
    tab is opened, the chart when the camera or range changes and every 10 s."""
    with gr.Row():
        camera = gr.Dropdown(
            label="Camera", choices=[], allow_custom_value=True, elem_id="emo-history-cam", scale=2
        )
        span = gr.Radio(
            list(history.RANGES), value="1 hour", label="Range", elem_id="emo-history-range", scale=2
        )
    chart = gr.HTML("", elem_id="emo-history-chart")
    gr.Markdown("Tracks in the live timeline:")
    strips = gr.HTML("", elem_id="emo-history-strips")
    timer = gr.Timer(10.0)
    tab.select(partial(cameras, p), [camera], [camera], **PRIVATE)
    for trigger in (camera.change, span.change, timer.tick):
        trigger(partial(view, p), [camera, span], [chart, strips], **PRIVATE)
