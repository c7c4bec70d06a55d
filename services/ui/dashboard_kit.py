"""What the dashboard's tabs share: the app's parts they use (:class:`Parts`), the page's scripts and
styles, and small helpers for Gradio components."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import redis

from services.common.credentials import Sealer
from services.common.source_policy import SourcePolicy
from services.ui.camera_limit import CameraLimit
from services.ui.events import EventLog
from services.ui.job_manager import JobManager
from services.ui.state import LiveState
from services.ui.webcam import WebcamHub

STATIC = Path(__file__).parent / "static"
BARS_JS = (STATIC / "bars.js").read_text()
GRID_JS = (STATIC / "grid.js").read_text()
CSS = (STATIC / "dashboard.css").read_text()
#: event listeners' options: no spinner, and not part of Gradio's public API
PRIVATE: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}

C = TypeVar("C", bound=gr.components.Component)


@dataclass(frozen=True)
class Parts:
    """The app's parts the tabs use. ``policy``: which camera sources the Cameras panel may add
    (``EMOSTREAM_SOURCE_ALLOW``); ``sealer``: seals the passwords of camera URIs (``EMOSTREAM_SOURCE_KEY``;
    None: such URIs refused); ``limit``: new cameras must fit it (``EMOSTREAM_UI_MAX_CAMERAS``)."""

    client: redis.Redis
    state: LiveState
    jobs: JobManager
    webcam: WebcamHub
    events: EventLog
    policy: SourcePolicy
    sealer: Sealer | None
    limit: CameraLimit


def local_examples(component: C) -> C:
    """Drop the component's API-doc example (Gradio's point at files on github.com): the page and its
    config name no host but this one."""
    component.example_payload = lambda: None  # type: ignore[method-assign]  # Gradio's API-doc hook, replaced on this instance
    component.example_value = lambda: None  # type: ignore[method-assign]  # Gradio's API-doc hook, replaced on this instance
    return component


def bars_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def bars_panel(elem_id: str) -> gr.HTML:
    """The per-face bars: a fixed template whose script (``static/bars.js``) moves the bars when the JSON
    value changes, so nothing flickers."""
    return gr.HTML(
        '{"cameras":[]}', html_template='<div class="emo-faces"></div>', js_on_load=BARS_JS, elem_id=elem_id
    )


def private_gradio_cache() -> Path:
    """Gradio keeps what browsers upload (the video tab's files, before a job copies them) under
    ``GRADIO_TEMP_DIR``, else the fixed ``/tmp/gradio`` that every user of the machine shares: unless one
    is set, this process gets a new 0700 directory of its own (once; Gradio reads the variable each time),
    deleted when the process exits (jobs have copied what they need by then)."""
    if not os.environ.get("GRADIO_TEMP_DIR"):
        os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="emostream-gradio-")
        atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)
    return Path(os.environ["GRADIO_TEMP_DIR"])
