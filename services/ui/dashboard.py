"""The Gradio dashboard: Live (camera grid, per-face bars, add/remove), Webcam, Video jobs, History,
Health; one module per tab (``tab_live``, ``tab_webcam``, ``tab_video``, ``tab_history``).

The grid is a ``gr.HTML`` re-rendered only when the set of cameras or their status changes; the bars
are a ``gr.HTML`` whose template never changes and whose ``js_on_load`` script (``static/bars.js``)
moves existing bars when its JSON ``value`` changes, so nothing flickers and CSS transitions animate.
One async generator per browser (:func:`push`) pushes grid, bars, health and events from the shared
in-memory state (no Redis per viewer); every tile's pictures come over one WebSocket per page
(:mod:`services.ui.framesocket`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import gradio as gr
import redis
from fastapi import FastAPI

from services.common.credentials import Sealer
from services.common.source_policy import SourcePolicy
from services.ui import docs_pages, pipeline
from services.ui.camera_limit import CameraLimit
from services.ui.dashboard_kit import CSS, PRIVATE, Parts, bars_json, private_gradio_cache
from services.ui.events import EventLog, events_html
from services.ui.job_manager import JobManager
from services.ui.stage import bars_payload, grid_html, grid_key
from services.ui.state import LiveState, now_ms
from services.ui.tab_history import history_tab
from services.ui.tab_live import LiveTab, live_tab
from services.ui.tab_video import video_tab
from services.ui.tab_webcam import webcam_tab
from services.ui.webcam import WebcamHub

EVENT_ROWS = 20  # rows of the Live tab's event log


async def push(p: Parts, interval_s: float) -> AsyncIterator[tuple[Any, Any, Any, Any]]:
    """Grid, bars, health panel and event log for one browser, each only when it changed."""
    state = p.state
    last_grid: Any = None
    last_bars = ""
    last_health = -1
    last_events = ""
    while not state.closing.is_set():
        views = sorted(state.views(), key=lambda v: v.camera.camera_id)
        cameras = [v.camera for v in views]
        key = (grid_key(cameras), state.redis_error)
        bars = bars_json(bars_payload(views, now_ms(), state.shown_fps()))
        snap = state.pipeline
        grid_out = grid_html(cameras, state.redis_error) if key != last_grid else gr.skip()
        bars_out = bars if bars != last_bars else gr.skip()
        health_out = pipeline.panel_html(snap) if snap.read_ms != last_health else gr.skip()
        try:
            events = events_html(p.events.latest(EVENT_ROWS))
        except redis.RedisError:
            events = last_events  # the grid already says Redis is away
        events_out = events if events != last_events else gr.skip()
        last_grid, last_bars, last_health, last_events = key, bars, snap.read_ms, events
        yield grid_out, bars_out, health_out, events_out
        await asyncio.sleep(interval_s)


def build_dashboard(
    client: redis.Redis,
    state: LiveState,
    jobs: JobManager,
    webcam: WebcamHub,
    push_hz: float = 5.0,
    event_log: EventLog | None = None,
    policy: SourcePolicy | None = None,
    sealer: Sealer | None = None,
    limit: CameraLimit | None = None,
) -> gr.Blocks:
    """``policy``: which camera sources the Cameras panel may add (``EMOSTREAM_SOURCE_ALLOW``; None: any);
    ``sealer``: seals the passwords of camera URIs (``EMOSTREAM_SOURCE_KEY``; None: such URIs refused);
    ``limit``: new cameras must fit it (``EMOSTREAM_UI_MAX_CAMERAS``; None: no limit)."""
    private_gradio_cache()
    p = Parts(
        client,
        state,
        jobs,
        webcam,
        event_log or EventLog(client),
        policy or SourcePolicy(allow_all=True),
        sealer,
        limit or CameraLimit(client, 0),
    )
    with gr.Blocks(analytics_enabled=False, title="emostream") as demo:
        gr.Markdown("## emostream: live facial emotion recognition")
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                live: LiveTab = live_tab(p)
            with gr.Tab("Webcam", id="webcam"):
                stop_webcam = webcam_tab(p)
            with gr.Tab("Video", id="video"):
                video_tab(p)
            with gr.Tab("History", id="history") as tab:
                history_tab(p, tab)
            with gr.Tab("Health", id="health"):
                health = gr.HTML(pipeline.panel_html(state.pipeline), elem_id="emo-health")
                gr.Markdown("Prometheus metrics: [/metrics](/metrics) · liveness: [/healthz](/healthz)")
        gr.Markdown(docs_pages.FOOTER, elem_id="emo-footer")

        async def page_push() -> AsyncIterator[tuple[Any, Any, Any, Any]]:
            async for update in push(p, 1.0 / push_hz):
                yield update

        outputs = [live.grid, live.bars, health, live.events]
        demo.load(page_push, outputs=outputs, concurrency_limit=None, **PRIVATE)
        demo.unload(stop_webcam)
    return cast(gr.Blocks, demo)


def mount(app: FastAPI, demo: gr.Blocks, host: str, port: int, max_file_size: int | None = None) -> FastAPI:
    """Mount ``demo`` at ``/``; page CSS goes here (Gradio 6 drops ``gr.Blocks(css=)`` when mounted)."""
    return cast(
        FastAPI,
        gr.mount_gradio_app(
            app,
            demo,
            path="/",
            server_name=host,
            server_port=port,
            footer_links=["api", "settings"],
            css=CSS,
            ssr_mode=False,
            enable_monitoring=False,
            mcp_server=False,
            max_file_size=max_file_size,
        ),
    )
