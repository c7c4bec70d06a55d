"""Searching live frames in regions around the last faces (services.detector.roi): the planner's rules, the
region geometry, and the real MTCNN through DetectorHandler on the sample video against whole-frame search."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from services.common.boxes import iou_matrix
from services.common.schema import Frame
from services.detector import roi
from services.detector.model import MtcnnDetector
from services.detector.roi import RoiPlanner, cut_regions, from_regions, regions_around
from services.detector.service import DetectorHandler
from services.detector.settings import DetectorSettings
from services.detector.stage import FaceDetections, filter_faces
from tests.support.fakes import detections

SIZE = (640, 360)
FACE = detections([[100, 100, 160, 170]], [0.99])
CROWD = detections(
    [[40 * i, 0, 40 * i + 30, 30] for i in range(roi.MAX_REGIONS + 1)], [0.99] * (roi.MAX_REGIONS + 1)
)


def test_full_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="full_every must be >= 1"):
        RoiPlanner(0)


def test_whole_frame_every_n_frames_and_regions_between() -> None:
    planner = RoiPlanner(full_every=3)
    plans = []
    for k in range(7):
        regions = planner.regions("cam", 100 * k, SIZE)
        plans.append(regions is not None)
        planner.update("cam", 100 * k, SIZE, FACE, regions)
    assert plans == [False, True, True, False, True, True, False]


def test_full_every_one_is_always_the_whole_frame() -> None:
    planner = RoiPlanner(full_every=1)
    for k in range(4):
        assert planner.regions("cam", 100 * k, SIZE) is None
        planner.update("cam", 100 * k, SIZE, FACE, None)


def test_a_region_that_loses_its_face_makes_the_next_frame_whole() -> None:
    planner = RoiPlanner(full_every=10)
    two = detections([[100, 100, 160, 170], [400, 100, 460, 170]], [0.99, 0.99])
    planner.update("cam", 0, SIZE, two, None)
    regions = planner.regions("cam", 100, SIZE)
    assert regions is not None and len(regions) == 2
    planner.update("cam", 100, SIZE, two[np.array([0])], regions)  # the second face went unseen
    assert planner.regions("cam", 200, SIZE) is None
    planner.update("cam", 200, SIZE, two[np.array([0])], None)  # the whole frame: one face is the truth
    assert planner.regions("cam", 300, SIZE) is not None


@pytest.mark.parametrize(
    ("captured_ms", "size_wh", "faces", "why"),
    [
        (100 + roi.MAX_GAP_MS + 1, SIZE, FACE, "too long since the last frame"),
        (50, SIZE, FACE, "a frame older than the last"),
        (200, (1280, 720), FACE, "another frame size"),
        (200, SIZE, CROWD, "more faces than regions are worth"),
    ],
)
def test_whole_frame_when_the_last_faces_say_little(
    captured_ms: int, size_wh: tuple[int, int], faces: FaceDetections, why: str
) -> None:
    planner = RoiPlanner(full_every=10)
    planner.update("cam", 100, SIZE, faces, None)
    assert planner.regions("cam", captured_ms, size_wh) is None, why
    assert planner.regions("other", 200, SIZE) is None  # a camera never seen


def test_a_camera_without_faces_is_searched_whole_every_n_frames_and_not_between() -> None:
    planner = RoiPlanner(full_every=3)
    plans = []
    for k in range(5):
        regions = planner.regions("cam", 100 * k, SIZE)
        plans.append(None if regions is None else len(regions))
        planner.update("cam", 100 * k, SIZE, FaceDetections.empty(), regions)
    assert plans == [None, 0, 0, None, 0]
    assert cut_regions(np.zeros((360, 640, 3), np.uint8), np.zeros((0, 4), np.int64)) == []
    assert len(from_regions([], np.zeros((0, 4), np.int64), SIZE, min_score=0.9, min_size_px=24)) == 0


def test_cameras_are_planned_apart_and_forgotten_beyond_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(roi, "MAX_CAMERAS", 2)
    planner = RoiPlanner(full_every=10)
    for cam in ("a", "b", "c"):
        planner.update(cam, 0, SIZE, FACE, None)
    assert planner.regions("a", 100, SIZE) is None  # the least recently seen, forgotten
    assert planner.regions("b", 100, SIZE) is not None and planner.regions("c", 100, SIZE) is not None


def test_regions_are_squares_around_each_face() -> None:
    regions = regions_around(np.array([[100, 100, 160, 170], [300, 50, 305, 55]], np.float32))
    (x1, y1, x2, y2), small = regions
    assert x2 - x1 == y2 - y1 == 210  # 3 x the longer side, 70
    assert ((x1 + x2) / 2, (y1 + y2) / 2) == (130, 135)
    assert small[2] - small[0] == roi.REGION_PX  # never smaller than the detection image


def test_cut_regions_resizes_and_pads_with_black() -> None:
    frame = np.random.default_rng(0).integers(1, 256, (360, 640, 3), dtype=np.uint8)
    inside = np.array([[10, 20, 10 + roi.REGION_PX, 20 + roi.REGION_PX]])
    edge = np.array([[-48, -48, -48 + 2 * roi.REGION_PX, -48 + 2 * roi.REGION_PX]])
    (same,) = cut_regions(frame, inside)
    np.testing.assert_array_equal(same, frame[20 : 20 + roi.REGION_PX, 10 : 10 + roi.REGION_PX])
    (padded,) = cut_regions(frame, edge)
    assert padded.shape == (roi.REGION_PX, roi.REGION_PX, 3)
    half = roi.REGION_PX // 4  # 48 px past the edge, halved by the resize
    assert (padded[: half - 1] == 0).all() and (padded[:, : half - 1] == 0).all()
    assert (padded[half + 1 :, half + 1 :] > 0).all()


def test_from_regions_maps_back_keeps_the_face_nearest_the_centre_and_one_of_duplicates() -> None:
    side = 2 * roi.REGION_PX  # detection pixels are halves of frame pixels
    regions = np.array([[100, 100, 100 + side, 100 + side], [110, 100, 110 + side, 100 + side]])
    near_centre = [38, 38, 58, 58]  # frame: 176..216, the middle of the first region
    off_centre = [0, 0, 20, 20]
    first = detections([off_centre, near_centre], [0.99, 0.95])
    second = detections([[33, 38, 53, 58]], [0.97])  # the same face, seen from the second region
    faces = from_regions([first, second], regions, SIZE, min_score=0.9, min_size_px=24)
    assert len(faces) == 1
    np.testing.assert_allclose(faces.boxes_xyxy[0], [176, 176, 216, 216])
    assert faces.scores[0] == pytest.approx(0.97)
    np.testing.assert_allclose(faces.landmarks_xy[0], second.landmarks_xy[0] * 2 + [110, 100])


def test_from_regions_filters_in_frame_pixels_and_clips_to_the_frame() -> None:
    regions = np.array([[600, 300, 600 + roi.REGION_PX, 300 + roi.REGION_PX]])
    past_edge = detections([[20, 20, 70, 70]], [0.99])  # frame 620..670 x 320..370, clipped to 640 x 360
    faces = from_regions([past_edge], regions, SIZE, min_score=0.9, min_size_px=10)
    np.testing.assert_allclose(faces.boxes_xyxy, [[620, 320, 640, 360]])
    assert len(from_regions([past_edge], regions, SIZE, min_score=0.9, min_size_px=30)) == 0
    low = detections([[20, 20, 50, 50]], [0.8])
    assert len(from_regions([low], regions, SIZE, min_score=0.9, min_size_px=10)) == 0


def live_frame(seq: int, image: np.ndarray, mode: str = "live") -> Frame:
    return Frame(
        camera_id="cam",
        seq=seq,
        captured_ms=seq * 100,
        mode=mode,  # type: ignore[arg-type]
        frame_key=f"frame:cam:{seq}",
        size_wh=(image.shape[1], image.shape[0]),
    )


@pytest.fixture(scope="module")
def video(sample_media: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(sample_media / "single_face.mp4"))
    frames = []
    while len(frames) < 24:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames[::2]


@pytest.fixture(scope="module")
def mtcnn() -> MtcnnDetector:
    return MtcnnDetector(min_face_size=24, device="cpu")


def test_live_frames_in_regions_find_the_faces_the_whole_frame_finds(
    mtcnn: MtcnnDetector, video: list[np.ndarray]
) -> None:
    handler = DetectorHandler(None, mtcnn, DetectorSettings(live_full_every=4))  # type: ignore[arg-type]
    for seq, image in enumerate(video):
        (got,) = handler._search([(0, live_frame(seq, image), image)])
        whole = filter_faces(mtcnn.detect([image])[0], 0.9, 24)
        assert len(got) == len(whole) == 1, seq
        assert iou_matrix(got.boxes_xyxy, whole.boxes_xyxy)[0, 0] > 0.7, seq
    assert handler.stats["frames_whole"] == 3 and handler.stats["frames_in_regions"] == 9


def test_file_frames_are_always_searched_whole(mtcnn: MtcnnDetector, video: list[np.ndarray]) -> None:
    handler = DetectorHandler(None, mtcnn, DetectorSettings(live_full_every=4))  # type: ignore[arg-type]
    for seq, image in enumerate(video[:4]):
        (got,) = handler._search([(0, live_frame(seq, image, mode="file"), image)])
        np.testing.assert_allclose(got.boxes_xyxy, filter_faces(mtcnn.detect([image])[0], 0.9, 24).boxes_xyxy)
    assert handler.stats["frames_in_regions"] == 0
