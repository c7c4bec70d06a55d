"""The detector's pure Faces-building step (services.detector.stage.faces_of_frame) with a FakeFaceDetector:
filtering, order, crops and identity fields; and DetectorHandler using it with its settings."""

from __future__ import annotations

import numpy as np
import pytest

from services.common.image import decode_jpeg, encode_jpeg
from services.common.schema import Faces, Frame
from services.detector.service import DetectorHandler
from services.detector.settings import DetectorSettings
from services.detector.stage import FaceDetections, faces_of_frame
from tests.support.fakes import FakeFaceDetector, detections

FILTERS = {"min_score": 0.9, "min_size_px": 20.0, "crop_margin": 0.0, "align_faces": False}


def frame_message(seq: int = 4, camera_id: str = "cam") -> Frame:
    return Frame(
        camera_id=camera_id,
        seq=seq,
        captured_ms=5_000 + seq,
        mode="file",
        frame_key=f"frame:{camera_id}:{seq}",
        size_wh=(200, 100),
    )


def image() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (100, 200, 3), dtype=np.uint8)


def test_faces_pass_the_filters_in_order_with_their_crops() -> None:
    dets = detections(
        [[10, 10, 50, 60], [60, 10, 70, 20], [100, 20, 140, 70], [150, 10, 190, 60]],
        [0.95, 0.99, 0.5, 0.91],  # 2nd is too small (10 px), 3rd scores too low
    )
    (found,) = FakeFaceDetector([dets]).detect([image()])
    msg = frame_message()
    out = faces_of_frame(msg, image(), found, **FILTERS)
    assert isinstance(out, Faces)
    assert (out.camera_id, out.seq, out.captured_ms, out.mode) == ("cam", 4, 5_004, "file")
    assert (out.frame_key, out.size_wh) == ("frame:cam:4", (200, 100))
    assert [f.box_xyxy for f in out.faces] == [(10.0, 10.0, 50.0, 60.0), (150.0, 10.0, 190.0, 60.0)]
    assert [f.score for f in out.faces] == pytest.approx([0.95, 0.91])
    assert out.faces[0].landmarks_xy == tuple(map(tuple, found.landmarks_xy[0].tolist()))
    for face in out.faces:
        crop = decode_jpeg(face.crop_jpeg)
        assert crop.shape == (50, 50, 3)  # max(w, h) square, no margin, inside the frame


def test_aligned_crops_and_margin_follow_the_arguments() -> None:
    dets = detections([[60, 30, 100, 70]], [0.99])
    plain = faces_of_frame(frame_message(), image(), dets, **FILTERS)
    wide = faces_of_frame(
        frame_message(), image(), dets, **(FILTERS | {"crop_margin": 0.25, "align_faces": True})
    )
    assert decode_jpeg(plain.faces[0].crop_jpeg).shape == (40, 40, 3)
    assert decode_jpeg(wide.faces[0].crop_jpeg).shape == (60, 60, 3)


def test_a_frame_without_faces_gives_faces_without_faces() -> None:
    out = faces_of_frame(frame_message(9), image(), FaceDetections.empty(), **FILTERS)
    assert out.faces == () and out.seq == 9


class FakeRedis:
    """Just the ``mget`` DetectorHandler reads frames with."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs

    def mget(self, keys: list[str]) -> list[bytes | None]:
        return [self.blobs.get(k) for k in keys]


def test_handler_builds_faces_with_its_settings() -> None:
    jpeg = encode_jpeg(image())
    msgs = [frame_message(1), frame_message(2)]
    detector = FakeFaceDetector([detections([[10, 10, 50, 60], [100, 20, 140, 70]], [0.99, 0.8])])
    settings = DetectorSettings(min_score=0.9, min_size_px=20, crop_margin=0.0, align_faces=False)
    handler = DetectorHandler(FakeRedis({m.frame_key: jpeg for m in msgs}), detector, settings)
    out = handler.detect(msgs)
    assert detector.calls == [2]
    assert [(m.seq, len(m.faces)) for m in out if isinstance(m, Faces)] == [(1, 1), (2, 1)]
