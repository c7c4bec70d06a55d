"""The Webcam tab: the browser's camera as a pipeline camera (``webcam-...``), its annotated result, its
bars and the measured round trip (:mod:`services.ui.webcam`)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import gradio as gr

from services.common.image_header import FrameRefused
from services.ui.camera_limit import CameraLimitReached
from services.ui.dashboard_kit import PRIVATE, Parts, bars_json, bars_panel, local_examples
from services.ui.frame_input import frame_input
from services.ui.stage import bars_payload
from services.ui.state import now_ms

WEBCAM_WH = (640, 480)


def on_frame(
    p: Parts, frame: bytes | None, measured: dict[str, Any], request: gr.Request
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Publish one browser frame (encoded, see :func:`frame_input`); answer with the camera's result
    tile, bars and measured latency. A refused frame (too large, past the camera limit) is an error
    shown to the user; the cameras and the other sessions go on.

    ``measured`` (per browser session) holds the seq last counted and the last round trips in ms.
    """
    if frame is None:
        return gr.skip(), gr.skip(), gr.skip(), measured
    try:
        cam = p.webcam.publish_encoded(request.session_hash or "anon", frame)
    except (FrameRefused, CameraLimitReached) as exc:
        raise gr.Error(str(exc)) from exc
    view = p.state.get(cam)
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
    return tile, bars_json(bars_payload([view], now_ms(), p.state.shown_fps())), text, measured


def webcam_tab(p: Parts) -> Callable[[gr.Request], None]:
    """Build the tab's components (inside ``gr.Blocks``) and wire the stream; returns what stops a
    browser session's webcam camera (for the page's unload).

    The listeners are closures, not partials: Gradio finds their ``gr.Request`` by their signature."""

    def frame(
        frame: bytes | None, measured: dict[str, Any], request: gr.Request
    ) -> tuple[Any, Any, Any, dict[str, Any]]:
        return on_frame(p, frame, measured, request)

    def stop(request: gr.Request) -> None:
        p.webcam.stop(request.session_hash or "anon")

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
    latency = gr.Markdown("", elem_id="emo-webcam-latency")
    bars = bars_panel("emo-webcam-bars")
    frame_input(local_examples(cam_in))
    latencies = gr.State({})
    cam_in.stream(
        frame,
        [cam_in, latencies],
        [cam_out, bars, latency, latencies],
        stream_every=0.1,
        concurrency_limit=None,
        time_limit=3600,
        **PRIVATE,
    )
    cam_in.clear(stop, None, None, **PRIVATE)
    return stop
