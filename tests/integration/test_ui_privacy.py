"""EMOSTREAM_PRIVACY=blur in the ui, against a real Redis and judged by the real MTCNN: what a viewer
gets (snapshots; the MJPEG streams and the tiles read the same drawn frame) shows no face, whether the
pipeline has tracked the faces yet or not, while the API still answers every track."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from services.common import codec, keys, registry
from services.common.image import decode_jpeg, encode_jpeg
from services.common.schema import Frame, Track, Tracks
from services.detector.model import MtcnnDetector
from services.ui.app import create_app
from services.ui.settings import UISettings
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def detector() -> MtcnnDetector:
    return MtcnnDetector(device="cpu")


@pytest.fixture()
def group(sample_media: Path) -> np.ndarray:
    img = cv2.imread(str(sample_media / "multi_face.jpg"))
    assert img is not None
    return img


def faces(detector: MtcnnDetector, img: np.ndarray) -> list[tuple[float, float, float, float]]:
    (found,) = detector.detect([img])
    return [(float(a), float(b), float(c), float(d)) for a, b, c, d in found.boxes_xyxy]


def app_with(redis_client: redis.Redis, redis_url: str, privacy: str) -> TestClient:
    settings = UISettings(redis_url=redis_url, poll_hz=30, privacy=privacy)  # type: ignore[arg-type]  # the env spelling, as a user gives it
    return TestClient(create_app(settings, redis_client))


def snapshot(api: TestClient, cam: str) -> np.ndarray:
    resp = wait_for(lambda: (r := api.get(f"/snapshot/{cam}.jpg")).status_code == 200 and r, 10, "a snapshot")
    assert resp
    return decode_jpeg(resp.content)


def publish_tracks(client: redis.Redis, cam: str, img: np.ndarray, boxes: list, shown: int) -> None:
    """The frame, and a Tracks message showing the first ``shown`` faces (all in face_boxes)."""
    client.set(keys.frame(cam, 0), encode_jpeg(img, 95), ex=60)
    tracks = tuple(
        Track(track_id=i + 1, box_xyxy=b, label="sad", confidence=0.8, raw_label="sad", probs={"sad": 0.8})
        for i, b in enumerate(boxes[:shown])
    )
    msg = Tracks(
        camera_id=cam,
        seq=0,
        captured_ms=time.time_ns() // 1_000_000,
        frame_key=keys.frame(cam, 0),
        size_wh=(img.shape[1], img.shape[0]),
        tracks=tracks,
        face_boxes=tuple(boxes),
    )
    client.xadd(keys.stream("tracks", cam), codec.encode(msg))  # type: ignore[arg-type]  # redis-py's field mapping is invariant


def test_blur_hides_every_face_and_keeps_the_tracks(
    redis_client: redis.Redis, redis_url: str, detector: MtcnnDetector, group: np.ndarray
) -> None:
    boxes = faces(detector, group)
    assert len(boxes) == 5
    registry.add(redis_client, "room", "rtsp://example.invalid/room")
    publish_tracks(redis_client, "room", group, boxes, shown=3)  # two held back, e.g. for re-id
    with app_with(redis_client, redis_url, "blur") as api:
        shown = snapshot(api, "room")
        assert faces(detector, shown) == [], "no face in what the viewer gets"
        (cam,) = api.get("/api/cameras").json()
        assert [t["track_id"] for t in cam["tracks"]] == [1, 2, 3], "the tracks are answered as ever"


def test_a_frame_before_any_tracks_is_blurred_whole(
    redis_client: redis.Redis, redis_url: str, detector: MtcnnDetector, group: np.ndarray
) -> None:
    registry.add(redis_client, "door", "rtsp://example.invalid/door")
    redis_client.set(keys.frame("door", 0), encode_jpeg(group, 95), ex=60)
    frame = Frame(
        camera_id="door",
        seq=0,
        captured_ms=time.time_ns() // 1_000_000,
        frame_key=keys.frame("door", 0),
        size_wh=(group.shape[1], group.shape[0]),
    )
    redis_client.xadd(keys.stream("frames", "door"), codec.encode(frame))  # type: ignore[arg-type]  # redis-py's field mapping is invariant
    with app_with(redis_client, redis_url, "blur") as api:
        assert faces(detector, snapshot(api, "door")) == []
    with app_with(redis_client, redis_url, "off") as api:
        assert len(faces(detector, snapshot(api, "door"))) == 5, "off: the raw frame, as captured"


def test_an_unknown_privacy_mode_is_refused_by_name(redis_url: str) -> None:
    with pytest.raises(ValueError, match="privacy"):
        UISettings(redis_url=redis_url, privacy="pixelate")  # type: ignore[arg-type]  # a user's typo
