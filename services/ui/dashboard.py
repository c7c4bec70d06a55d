"""The Gradio dashboard: Live (camera grid, per-face bars, add/remove), Webcam, Video jobs, Health.

The grid is a ``gr.HTML`` re-rendered only when the set of cameras or their status changes; the bars
are a ``gr.HTML`` whose template never changes and whose ``js_on_load`` script (``static/bars.js``)
moves existing bars when its JSON ``value`` changes, so nothing flickers and CSS transitions animate.
One async generator per browser pushes grid, bars and health from the shared in-memory state (no Redis
per viewer); every tile's pictures come over one WebSocket per page (:mod:`services.ui.framesocket`).
The webcam tab streams browser frames into the pipeline (:mod:`services.ui.webcam`) and shows the
annotated result the same way; the video tab runs file jobs (:mod:`services.ui.job_manager`).
"""

from __future__ import annotations

import asyncio
import atexit
import html
import json
import os
import shutil
import statistics
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

# Gradio looks these up at import time; analytics on means DNS lookups at start.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import redis  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from services.common import keys, registry  # noqa: E402
from services.common.credentials import Sealer
from services.common.image_header import FrameRefused  # noqa: E402
from services.common.source_policy import SourcePolicy
from services.common.sources import (
    SourceError,
    source_loops,  # noqa: E402
)
from services.ui import (
    docs_pages,  # noqa: E402
    history,  # noqa: E402
    pipeline,  # noqa: E402
)
from services.ui.camera_limit import CameraLimit, CameraLimitReached  # noqa: E402
from services.ui.events import EventLog, events_html  # noqa: E402
from services.ui.frame_input import frame_input  # noqa: E402
from services.ui.job_html import error_html, job_progress_html, job_result_html  # noqa: E402
from services.ui.job_manager import JobManager, UploadError  # noqa: E402
from services.ui.stage import bars_payload, grid_html, grid_key  # noqa: E402
from services.ui.state import LiveState, now_ms  # noqa: E402
from services.ui.webcam import WebcamHub  # noqa: E402

STATIC = Path(__file__).parent / "static"
BARS_JS = (STATIC / "bars.js").read_text()
GRID_JS = (STATIC / "grid.js").read_text()
CSS = (STATIC / "dashboard.css").read_text()
WEBCAM_WH = (640, 480)
JOB_POLL_S = 0.3


C = TypeVar("C", bound=gr.components.Component)


def local_examples(component: C) -> C:
    """Drop the component's API-doc example (Gradio's point at files on github.com): the page and its
    config name no host but this one."""
    component.example_payload = lambda: None  # type: ignore[method-assign]  # Gradio's API-doc hook, replaced on this instance
    component.example_value = lambda: None  # type: ignore[method-assign]  # Gradio's API-doc hook, replaced on this instance
    return component


def bars_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


EVENT_ROWS = 20  # rows of the Live tab's event log


def private_gradio_cache() -> Path:
    """Gradio keeps what browsers upload (the video tab's files, before a job copies them) under
    ``GRADIO_TEMP_DIR``, else the fixed ``/tmp/gradio`` that every user of the machine shares: unless one
    is set, this process gets a new 0700 directory of its own (once; Gradio reads the variable each time),
    deleted when the process exits (jobs have copied what they need by then)."""
    if not os.environ.get("GRADIO_TEMP_DIR"):
        os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="emostream-gradio-")
        atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)
    return Path(os.environ["GRADIO_TEMP_DIR"])


def build_dashboard(
    client: redis.Redis,
    state: LiveState,
    jobs: JobManager,
    webcam: WebcamHub,
    push_hz: float = 5,
    event_log: EventLog | None = None,
    policy: SourcePolicy | None = None,
    sealer: Sealer | None = None,
    limit: CameraLimit | None = None,
) -> gr.Blocks:
    """``policy``: which camera sources the Cameras tab may add (``EMOSTREAM_SOURCE_ALLOW``; None: any);
    ``sealer``: seals the passwords of camera URIs (``EMOSTREAM_SOURCE_KEY``; None: such URIs refused);
    ``limit``: new cameras must fit it (``EMOSTREAM_UI_MAX_CAMERAS``; None: no limit)."""
    private_gradio_cache()
    interval_s = 1.0 / push_hz
    policy = policy or SourcePolicy(allow_all=True)
    cameras_limit = limit or CameraLimit(client, 0)
    log_of_events = event_log or EventLog(client)

    async def push() -> AsyncIterator[tuple[Any, Any, Any, Any]]:
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
                events = events_html(log_of_events.latest(EVENT_ROWS))
            except redis.RedisError:
                events = last_events  # the grid already says Redis is away
            events_out = events if events != last_events else gr.skip()
            last_grid, last_bars, last_health, last_events = key, bars, snap.read_ms, events
            yield grid_out, bars_out, health_out, events_out
            await asyncio.sleep(interval_s)

    def add(name: str, uri: str) -> str:
        uri = uri.strip()
        try:
            if registry.get(client, name.strip()) is not None:
                return f"**Error:** camera `{name.strip()}` exists; remove it first."
            policy.check(uri)
            register = partial(
                registry.add, client, name.strip(), uri, mode="live", loop=source_loops(uri), sealer=sealer
            )
            cameras_limit.add(name.strip(), register)
        except (registry.CameraError, SourceError, CameraLimitReached) as exc:
            return f"**Error:** {exc}"
        return f"Added camera `{name.strip()}`."

    def remove(name: str) -> str:
        if registry.remove(client, name.strip()):
            return f"Removed camera `{name.strip()}`."
        return f"**Error:** no camera named `{name.strip()}`."

    def on_webcam_frame(
        frame: bytes | None, measured: dict[str, Any], request: gr.Request
    ) -> tuple[Any, Any, Any, dict[str, Any]]:
        """Publish one browser frame (encoded, see :func:`frame_input`); answer with the camera's result
        tile, bars and measured latency. A refused frame (too large, past the camera limit) is an error
        shown to the user; the cameras and the other sessions go on.

        ``measured`` (per browser session) holds the seq last counted and the last round trips in ms.
        """
        if frame is None:
            return gr.skip(), gr.skip(), gr.skip(), measured
        try:
            cam = webcam.publish_encoded(request.session_hash or "anon", frame)
        except (FrameRefused, CameraLimitReached) as exc:
            raise gr.Error(str(exc)) from exc
        view = state.get(cam)
        tile = f'<img class="emo-webcam-result" data-emo-camera="{cam}" alt="annotated webcam">'
        if view is None:
            return tile, gr.skip(), "waiting for the pipeline ...", measured
        rtts: list[int] = measured.get("ms", [])
        if view.drawn_latency_ms is not None and view.jpeg_seq != measured.get("seq"):
            rtts = [*rtts, view.drawn_latency_ms][-30:]
            measured = {"seq": view.jpeg_seq, "ms": rtts}
        text = (
            f"round trip (frame received -> tracks drawn): **{rtts[-1]} ms**, "
            f"median {statistics.median(rtts):.0f} ms over the last {len(rtts)} results"
            if rtts
            else "waiting for the first result ..."
        )
        return tile, bars_json(bars_payload([view], now_ms(), state.shown_fps())), text, measured

    def stop_webcam(request: gr.Request) -> None:
        webcam.stop(request.session_hash or "anon")

    def run_job(path: str | None) -> Iterator[tuple[Any, Any]]:
        if not path:
            yield "", ""
            return
        try:
            job = jobs.submit_path(Path(path), Path(path).name)
        except UploadError as exc:
            yield error_html(f"Refused: {exc}"), ""
            return
        while job.status not in ("done", "failed"):
            yield job_progress_html(job), gr.skip()
            if jobs.stop.wait(JOB_POLL_S):
                return
            try:
                job = jobs.get(job.id) or job
            except redis.RedisError:
                continue  # Redis restarting: the job goes on, the bar waits
        yield job_progress_html(job), job_result_html(job)

    with gr.Blocks(analytics_enabled=False, title="emostream") as demo:
        gr.Markdown("## emostream: live facial emotion recognition")
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                grid = gr.HTML(grid_html([]), elem_id="emo-grid", js_on_load=GRID_JS)
                gr.Markdown("### Faces")
                bars = gr.HTML(
                    '{"cameras":[]}',
                    html_template='<div class="emo-faces"></div>',
                    js_on_load=BARS_JS,
                    elem_id="emo-bars",
                )
                with gr.Accordion("Cameras", open=True), gr.Row():
                    name = gr.Textbox(label="Name", placeholder="door-1", scale=1, elem_id="emo-cam-name")
                    uri = gr.Textbox(
                        label="Source",
                        placeholder="/path/video.mp4, 0 (device index), or an RTSP / HTTP(S) MJPEG URL",
                        scale=3,
                        elem_id="emo-cam-uri",
                    )
                    add_btn = gr.Button("Add", variant="primary", scale=0, elem_id="emo-cam-add")
                    remove_btn = gr.Button("Remove", scale=0, elem_id="emo-cam-remove")
                message = gr.Markdown(elem_id="emo-cam-message")
                gr.Markdown("### Events")
                events_box = gr.HTML(events_html([]), elem_id="emo-events")
            with gr.Tab("Webcam", id="webcam"):
                gr.Markdown(
                    "Your camera's frames go through the same pipeline as any camera (as "
                    f"`webcam-...`, {WEBCAM_WH[0]}x{WEBCAM_WH[1]} asked); the annotated result and the bars "
                    "show what came back."
                )
                with gr.Row():
                    cam_in = gr.Image(
                        sources=["webcam"],
                        streaming=True,
                        label="Your webcam",
                        elem_id="emo-webcam-in",
                        webcam_options=gr.WebcamOptions(
                            mirror=True,
                            constraints={"video": {"width": WEBCAM_WH[0], "height": WEBCAM_WH[1]}},
                        ),
                    )
                    cam_out = gr.HTML("", elem_id="emo-webcam-out")
                webcam_latency = gr.Markdown("", elem_id="emo-webcam-latency")
                webcam_bars = gr.HTML(
                    '{"cameras":[]}',
                    html_template='<div class="emo-faces"></div>',
                    js_on_load=BARS_JS,
                    elem_id="emo-webcam-bars",
                )
                frame_input(local_examples(cam_in))
                latencies = gr.State({})
            with gr.Tab("Video", id="video"):
                gr.Markdown(
                    f"Upload a video (at most {jobs.limit_text()}): every frame is analyzed; you get an "
                    "annotated H.264 video, `tracks.csv`, `timeline.json` and a timeline plot."
                )
                upload = local_examples(
                    gr.File(label="Video file", file_types=["video"], type="filepath", elem_id="emo-upload")
                )
                job_status = gr.HTML("", elem_id="emo-job-status")
                job_result = gr.HTML("", elem_id="emo-job-result")
            with gr.Tab("History", id="history") as history_tab:
                with gr.Row():
                    history_cam = gr.Dropdown(
                        label="Camera",
                        choices=[],
                        allow_custom_value=True,
                        elem_id="emo-history-cam",
                        scale=2,
                    )
                    history_range = gr.Radio(
                        list(history.RANGES),
                        value="1 hour",
                        label="Range",
                        elem_id="emo-history-range",
                        scale=2,
                    )
                history_chart = gr.HTML("", elem_id="emo-history-chart")
                gr.Markdown("Tracks in the live timeline:")
                history_strips = gr.HTML("", elem_id="emo-history-strips")
                history_timer = gr.Timer(10.0)
            with gr.Tab("Health", id="health"):
                health_html = gr.HTML(pipeline.panel_html(state.pipeline), elem_id="emo-health")
                gr.Markdown("Prometheus metrics: [/metrics](/metrics) · liveness: [/healthz](/healthz)")
        gr.Markdown(docs_pages.FOOTER, elem_id="emo-footer")

        private: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
        add_btn.click(add, [name, uri], message, **private)
        remove_btn.click(remove, [name], message, **private)
        cam_in.stream(
            on_webcam_frame,
            [cam_in, latencies],
            [cam_out, webcam_bars, webcam_latency, latencies],
            stream_every=0.1,
            concurrency_limit=None,
            time_limit=3600,
            **private,
        )
        cam_in.clear(stop_webcam, None, None, **private)
        upload.upload(run_job, [upload], [job_status, job_result], concurrency_limit=None, **private)
        demo.load(push, outputs=[grid, bars, health_html, events_box], concurrency_limit=None, **private)

        def history_cameras(current: str | None) -> Any:
            names = sorted(v.camera.camera_id for v in state.views())
            return gr.update(
                choices=names, value=current if current in names else (names[0] if names else None)
            )

        def history_view(camera: str | None, span: str) -> tuple[str, str]:
            if not camera:
                return '<div class="emo-muted">Pick a camera.</div>', ""
            minutes = history.RANGES.get(span, 60)
            end = now_ms()
            start = end - minutes * 60_000
            try:
                buckets = history.read(client, camera, minutes, end)
                raw = client.get(keys.timeline(camera))
            except redis.RedisError as exc:
                return error_html(f"Redis unavailable: {exc}"), ""
            timeline = json.loads(raw) if raw else None
            points = history.resample(buckets, start, end)
            link = (
                f'<a class="emo-history-csv" href="/api/cameras/{html.escape(camera)}/history.csv'
                f'?minutes={minutes}" download>CSV of these {minutes} minutes</a>'
            )
            return history.chart_svg(points, start, end) + link, history.strips_svg(timeline, start, end)

        history_tab.select(history_cameras, [history_cam], [history_cam], **private)
        for trigger in (history_cam.change, history_range.change, history_timer.tick):
            trigger(history_view, [history_cam, history_range], [history_chart, history_strips], **private)
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
