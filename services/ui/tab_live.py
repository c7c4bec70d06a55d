"""The Live tab: the camera grid, the per-face bars, the Cameras panel (add, remove) and the event log.
Its grid, bars and events are filled by the dashboard's push (:func:`services.ui.dashboard.push`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from services.common import registry
from services.common.sources import SourceError, source_loops
from services.ui.camera_limit import CameraLimitReached
from services.ui.dashboard_kit import GRID_JS, PRIVATE, Parts, bars_panel
from services.ui.events import events_html
from services.ui.stage import grid_html


@dataclass(frozen=True)
class LiveTab:
    """The components the push fills."""

    grid: gr.HTML
    bars: gr.HTML
    events: gr.HTML


def add_camera(p: Parts, name: str, uri: str) -> str:
    """The Cameras panel's Add: the answer to show, in Markdown."""
    name, uri = name.strip(), uri.strip()
    try:
        if registry.get(p.client, name) is not None:
            return f"**Error:** camera `{name}` exists; remove it first."
        p.policy.check(uri)
        register = partial(
            registry.add, p.client, name, uri, mode="live", loop=source_loops(uri), sealer=p.sealer
        )
        p.limit.add(name, register)
    except (registry.CameraError, SourceError, CameraLimitReached) as exc:
        return f"**Error:** {exc}"
    return f"Added camera `{name}`."


def remove_camera(p: Parts, name: str) -> str:
    if registry.remove(p.client, name.strip()):
        return f"Removed camera `{name.strip()}`."
    return f"**Error:** no camera named `{name.strip()}`."


def live_tab(p: Parts) -> LiveTab:
    """Build the tab's components (inside ``gr.Blocks``) and wire its buttons."""
    grid = gr.HTML(grid_html([]), elem_id="emo-grid", js_on_load=GRID_JS)
    gr.Markdown("### Faces")
    bars = bars_panel("emo-bars")
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
    events = gr.HTML(events_html([]), elem_id="emo-events")
    add_btn.click(partial(add_camera, p), [name, uri], message, **PRIVATE)
    remove_btn.click(partial(remove_camera, p), [name], message, **PRIVATE)
    return LiveTab(grid, bars, events)
