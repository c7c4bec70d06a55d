"""The Gradio dashboard: the camera grid (MJPEG tiles), per-face probability bars, add/remove cameras.

The grid is a ``gr.HTML`` re-rendered only when the set of cameras or their status changes; the bars
are a ``gr.HTML`` whose template never changes and whose ``js_on_load`` script (``static/bars.js``)
moves existing bars when its JSON ``value`` changes, so nothing flickers and CSS transitions animate.
One async generator per browser pushes both from the shared in-memory state (no Redis per viewer).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# Gradio looks these up at import time; analytics on means DNS lookups at start.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import redis  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from services.common import registry  # noqa: E402
from services.ui.state import LiveState, now_ms  # noqa: E402
from services.ui.view import bars_payload, grid_html, grid_key  # noqa: E402

STATIC = Path(__file__).parent / "static"
BARS_JS = (STATIC / "bars.js").read_text()
CSS = (STATIC / "dashboard.css").read_text()


def build_dashboard(client: redis.Redis, state: LiveState, push_hz: float = 5) -> gr.Blocks:
    interval_s = 1.0 / push_hz

    async def push() -> AsyncIterator[tuple[Any, Any]]:
        last_grid: Any = None
        last_bars = ""
        while not state.closing.is_set():
            views = sorted(state.views(), key=lambda v: v.camera.camera_id)
            cameras = [v.camera for v in views]
            key = grid_key(cameras)
            bars = json.dumps(bars_payload(views, now_ms()), separators=(",", ":"))
            grid_out = grid_html(cameras) if key != last_grid else gr.skip()
            bars_out = bars if bars != last_bars else gr.skip()
            last_grid, last_bars = key, bars
            yield grid_out, bars_out
            await asyncio.sleep(interval_s)

    def add(name: str, uri: str) -> str:
        uri = uri.strip()
        file_like = "://" not in uri and not uri.isdigit()
        try:
            registry.add(client, name.strip(), uri, mode="live", loop=file_like)
        except registry.CameraError as exc:
            return f"**Error:** {exc}"
        return f"Added camera `{name.strip()}`."

    def remove(name: str) -> str:
        if registry.remove(client, name.strip()):
            return f"Removed camera `{name.strip()}`."
        return f"**Error:** no camera named `{name.strip()}`."

    with gr.Blocks(analytics_enabled=False, title="emostream") as demo:
        gr.Markdown("## emostream: live facial emotion recognition")
        grid = gr.HTML(grid_html([]), elem_id="emo-grid", js_on_load=None)
        gr.Markdown("### Faces")
        bars = gr.HTML(
            '{"cameras":[]}',
            html_template='<div class="emo-faces"></div>',
            js_on_load=BARS_JS,
            elem_id="emo-bars",
        )
        with gr.Accordion("Cameras", open=False), gr.Row():
            name = gr.Textbox(label="Name", placeholder="door-1", scale=1)
            uri = gr.Textbox(label="Source", placeholder="rtsp://..., 0 (webcam) or /path/video.mp4", scale=3)
            add_btn = gr.Button("Add", variant="primary", scale=0)
            remove_btn = gr.Button("Remove", scale=0)
        message = gr.Markdown()
        add_btn.click(add, [name, uri], message, show_progress="hidden", api_visibility="private")
        remove_btn.click(remove, [name], message, show_progress="hidden", api_visibility="private")
        demo.load(
            push,
            outputs=[grid, bars],
            show_progress="hidden",
            concurrency_limit=None,
            api_visibility="private",
        )
    return demo


def mount(app: FastAPI, demo: gr.Blocks, host: str, port: int) -> FastAPI:
    """Mount ``demo`` at ``/``; page CSS goes here (Gradio 6 drops ``gr.Blocks(css=)`` when mounted)."""
    return gr.mount_gradio_app(
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
    )
