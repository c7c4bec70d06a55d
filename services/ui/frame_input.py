"""The webcam's input component: Gradio's ``gr.Image`` that hands its handler the frame's encoded bytes.

``gr.Image`` decodes every frame it receives (PIL, then numpy) before the handler runs, so a frame whose
header says 12000x12000 took over a gigabyte before anything could refuse it. :func:`frame_input` makes
it take only the bytes (from the browser's ``data:`` URL, or from a file uploaded earlier); the webcam
hub reads the size from the header and decodes only what fits (``WebcamHub.publish_encoded``).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import gradio as gr
from gradio.data_classes import ImageData

from services.common.image_header import FrameRefused

MAX_FRAME_BYTES = 16 << 20  # an encoded frame file larger than this is refused unread


def frame_bytes(payload: ImageData) -> bytes:
    """The encoded image of a payload: its ``data:`` URL decoded from base64, or its file's bytes.

    Raises :class:`FrameRefused` (422) for a payload with neither, or bad base64; 413 past
    :data:`MAX_FRAME_BYTES`."""
    if payload.url and payload.url.startswith("data:"):
        try:
            return base64.b64decode(payload.url.rsplit(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise FrameRefused("frame refused: its data: URL is not base64", 422) from None
    if not payload.path:
        raise FrameRefused("frame refused: no image in the request", 422)
    path = Path(payload.path)
    if path.stat().st_size > MAX_FRAME_BYTES:
        raise FrameRefused(f"frame refused: over {MAX_FRAME_BYTES:,} bytes", 413)
    return path.read_bytes()


def frame_input(component: gr.Image) -> gr.Image:
    """``component`` (the webcam's ``gr.Image``) with a value, as an input, of the frame's encoded bytes,
    undecoded (None: no frame); a refusal is shown to the user as an error. The browser side is
    Gradio's image component unchanged.

    An instance attribute, not a subclass: Gradio writes a ``.pyi`` stub next to the source file of
    every component class it sees defined, at import time."""

    def preprocess(payload: ImageData | None) -> bytes | None:
        if payload is None:
            return None
        try:
            return frame_bytes(ImageData.model_validate(payload))
        except FrameRefused as exc:
            raise gr.Error(str(exc)) from exc

    component.preprocess = preprocess  # type: ignore[method-assign, assignment]  # Gradio's preprocess hook, replaced on this instance
    return component
