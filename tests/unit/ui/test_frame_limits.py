"""Frames and videos are measured before they are decoded: the webcam's input component hands over
bytes (never Gradio's decoded array), an upload's frame size is read from its container, and an image
URL in a Gradio JSON body is checked at the door."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest
from gradio.data_classes import ImageData

from services.common.image_header import FrameRefused
from services.ui.frame_guard import check_body
from services.ui.frame_input import frame_bytes, frame_input
from services.ui.job_manager import UploadError, probe_video
from tests.support.image_bombs import jpeg, png_header


def data_url(image: bytes, kind: str = "jpeg") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(image).decode()


def test_the_webcam_input_hands_over_bytes_undecoded(tmp_path: Path) -> None:
    component = frame_input(gr.Image(sources=["webcam"], streaming=True))
    assert component.get_block_name() == "image", "the browser must still get Gradio's image component"
    bomb = png_header(12000, 12000)
    assert component.preprocess(ImageData(url=data_url(bomb, "png"))) == bomb  # no 432 MB array made
    (tmp_path / "f.jpg").write_bytes(jpeg())
    assert component.preprocess(ImageData(path=str(tmp_path / "f.jpg"))) == jpeg()
    assert component.preprocess(None) is None
    with pytest.raises(gr.Error, match="not base64"):
        component.preprocess(ImageData(url="data:image/jpeg;base64,@@@"))


def test_frame_bytes_refuses_what_is_not_a_frame(tmp_path: Path) -> None:
    with pytest.raises(FrameRefused, match="no image"):
        frame_bytes(ImageData())
    big = tmp_path / "big.jpg"
    with open(big, "wb") as fh:
        fh.truncate(17 << 20)
    with pytest.raises(FrameRefused, match="over") as refused:
        frame_bytes(ImageData(path=str(big)))
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"data": [{"url": data_url(jpeg(640, 480))}, {}], "fn_index": 2}, None),
        ({"data": [{"url": data_url(png_header(12000, 12000), "png")}]}, 413),
        ({"data": [{"url": data_url(jpeg(claim_wh=(5000, 5000)))}], "nested": {"x": [1, "text"]}}, 413),
        ({"data": [{"deep": [{"url": data_url(png_header(9000, 9000), "png")}]}]}, 413),
        ({"data": [{"url": data_url(b"GIF89a", "gif")}]}, 415),
        ({"data": [{"url": "data:image/png;base64,!!"}]}, 422),
        ({"data": ["data:text/plain;base64,aGk=", {"path": "/tmp/x.png"}]}, None),  # files: FrameInput's
    ],
)
def test_image_urls_in_gradio_bodies(body: object, status: int | None) -> None:
    raw = json.dumps(body).encode()
    if status is None:
        check_body(raw, 4096 * 2160)
        return
    with pytest.raises(FrameRefused) as refused:
        check_body(raw, 4096 * 2160)
    assert refused.value.status == status


def test_a_body_that_is_not_json_is_left_to_the_route() -> None:
    check_body(b"{not json", 1)


def test_an_upload_with_frames_over_the_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 100, np.uint8))
    writer.release()
    assert probe_video(path, "clip.avi", max_frame_px=64 * 48)[0] == 3
    with pytest.raises(UploadError, match="64x48 frames, over the limit of 3,071 pixels") as refused:
        probe_video(path, "clip.avi", max_frame_px=64 * 48 - 1)
    assert refused.value.status == 413 and "EMOSTREAM_MAX_FRAME_PX" in str(refused.value)
