"""Where to look for faces in a live frame: the whole frame now and then, and between those only around the
faces found last (detect-every-N with the search narrowed, not skipped: every frame still gets fresh boxes,
landmarks and crops). No Redis, no torch.

On 640x360 frames MTCNN takes 29 ms for the whole frame and about 5 ms for a 96-px region around one face
(one thread, OpenVINO; docs/performance.md), so a camera with one or two faces costs a fraction of a
full-frame search on the frames in between, and a camera without faces costs a full search every
``full_every`` frames. A face that enters appears at the next full search, at most ``full_every - 1``
frames later; a face that a region loses makes the next frame a full search.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from services.common.boxes import iou_matrix
from services.detector.stage import FaceDetections, filter_faces

#: side of the square a region is resized to before detection, detection-image pixels: a face of a third
#: of the region is 32 px, above MTCNN's default 24-px minimum, so its pyramid has five small scales
REGION_PX = 96
#: a region's side, in multiples of the face box's longer side: room for the face to move and grow
REGION_SCALE = 3.0
#: more faces than this are searched on the whole frame: five regions cost about what the frame does
MAX_REGIONS = 4
#: a frame captured this long after the last one searched is searched whole: the faces may be anywhere
MAX_GAP_MS = 1000
#: cameras remembered per detector process, least recently seen forgotten first
MAX_CAMERAS = 1024


@dataclass(frozen=True)
class _Seen:
    boxes_xyxy: np.ndarray  # (n, 4) faces kept on the last frame, frame pixels
    captured_ms: int
    size_wh: tuple[int, int]
    since_full: int  # frames searched by regions since the last full search
    complete: bool  # every region found its face (else the next frame is searched whole)


class RoiPlanner:
    """Per camera, whether the next live frame is searched whole or in regions around the last faces.

    Args:
        full_every: search the whole frame at least every this many frames of a camera; 1 searches every
            frame whole (the planner is then off).
    """

    def __init__(self, full_every: int) -> None:
        if full_every < 1:
            raise ValueError(f"full_every must be >= 1, got {full_every}")
        self.full_every = full_every
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def regions(self, camera_id: str, captured_ms: int, size_wh: tuple[int, int]) -> np.ndarray | None:
        """The (n, 4) square regions (x1, y1, x2, y2, frame pixels, may reach past the frame) to search
        this frame in, or None to search it whole; none at all (n = 0) when the last search found no face:
        a camera without faces is searched whole every ``full_every`` frames, like one with faces."""
        seen = self._seen.get(camera_id)
        if (
            seen is None
            or not seen.complete
            or seen.size_wh != size_wh
            or not 0 <= captured_ms - seen.captured_ms <= MAX_GAP_MS
            or seen.since_full + 1 >= self.full_every
            or len(seen.boxes_xyxy) > MAX_REGIONS
        ):
            return None
        return regions_around(seen.boxes_xyxy)

    def update(
        self,
        camera_id: str,
        captured_ms: int,
        size_wh: tuple[int, int],
        kept: FaceDetections,
        regions: np.ndarray | None,
    ) -> None:
        """Remember the faces ``kept`` on this frame, searched in ``regions`` (None: whole)."""
        previous = self._seen.get(camera_id)
        since_full = 0 if regions is None or previous is None else previous.since_full + 1
        self._seen[camera_id] = _Seen(
            boxes_xyxy=kept.boxes_xyxy.copy(),
            captured_ms=captured_ms,
            size_wh=size_wh,
            since_full=since_full,
            complete=regions is None or len(kept) >= len(regions),
        )
        self._seen.move_to_end(camera_id)
        while len(self._seen) > MAX_CAMERAS:
            self._seen.popitem(last=False)


def regions_around(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Integer square regions of ``REGION_SCALE`` times each box's longer side, centred on it."""
    boxes = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0, 4), np.int64)
    side = np.maximum(np.ceil(REGION_SCALE * (boxes[:, 2:4] - boxes[:, 0:2]).max(axis=1)), REGION_PX)
    centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2.0
    top_left = np.round(centre - side[:, None] / 2.0)
    return np.concatenate([top_left, top_left + side[:, None]], axis=1).astype(np.int64)


def cut_regions(frame_bgr: np.ndarray, regions: np.ndarray) -> list[np.ndarray]:
    """Each region of the frame as a (REGION_PX, REGION_PX, 3) image; what lies past the frame is black."""
    if not len(regions):
        return []
    h, w = frame_bgr.shape[:2]
    pad = int(max(0, -regions[:, 0:2].min(), (regions[:, 2] - w).max(), (regions[:, 3] - h).max()))
    padded = cv2.copyMakeBorder(frame_bgr, pad, pad, pad, pad, cv2.BORDER_CONSTANT) if pad else frame_bgr
    crops = []
    for x1, y1, x2, y2 in regions.tolist():
        crop = padded[y1 + pad : y2 + pad, x1 + pad : x2 + pad]
        shrink = crop.shape[0] > REGION_PX
        crops.append(
            cv2.resize(
                crop, (REGION_PX, REGION_PX), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        )
    return crops


def from_regions(
    found: list[FaceDetections],
    regions: np.ndarray,
    size_wh: tuple[int, int],
    *,
    min_score: float,
    min_size_px: float,
) -> FaceDetections:
    """The faces of the frame from the detections in its regions: in frame pixels, boxes clipped to it;
    from each region only the kept face (``filter_faces``) nearest its centre, and of two regions that
    found one face (IOU >= 0.5) only the higher score."""
    picked: list[FaceDetections] = []
    for dets, (x1, y1, x2, y2) in zip(found, regions.tolist(), strict=True):
        in_frame = dets.to_frame((x2 - x1) / REGION_PX, np.array([x1, y1], np.float32), size_wh)
        mapped = filter_faces(in_frame, min_score, min_size_px)
        if len(mapped):
            centre = np.array([(x1 + x2) / 2.0, (y1 + y2) / 2.0], np.float32)
            gap = np.linalg.norm(
                (mapped.boxes_xyxy[:, 0:2] + mapped.boxes_xyxy[:, 2:4]) / 2.0 - centre, axis=1
            )
            picked.append(mapped[np.array([int(gap.argmin())])])
    if not picked:
        return FaceDetections.empty()
    faces = FaceDetections(
        np.concatenate([p.boxes_xyxy for p in picked]),
        np.concatenate([p.scores for p in picked]),
        np.concatenate([p.landmarks_xy for p in picked]),
    )
    return faces[_non_maximum(faces.boxes_xyxy, faces.scores, 0.5)]


def _non_maximum(boxes: np.ndarray, scores: np.ndarray, iou_at: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, in their input order."""
    overlap = iou_matrix(boxes, boxes)
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable").tolist():
        if all(overlap[i, j] < iou_at for j in keep):
            keep.append(i)
    return np.array(sorted(keep), np.int64)
