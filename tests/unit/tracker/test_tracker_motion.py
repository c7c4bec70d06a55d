"""Kalman motion, gated association, the One Euro filter, and crossings on synthetic observations."""

from __future__ import annotations

import json
import math

import msgspec
import numpy as np
import pytest

from services.common.boxes import BoxXYXY
from services.common.labels import CANONICAL_LABELS
from services.tracker.association import associate_gated, centre_distance_matrix
from services.tracker.checkpoint import KalmanState, TrackerState
from services.tracker.motion import BoxKalman
from services.tracker.smoothing import OneEuroBox
from services.tracker.stage import CameraTracker, Observation, TrackerConfig


def box_at(cx: float, cy: float = 100.0, size: float = 80.0) -> BoxXYXY:
    return (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)


def centre(box: BoxXYXY) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def test_kalman_learns_a_constant_velocity_and_predicts_through_a_gap() -> None:
    kf = BoxKalman.start(box_at(0))
    for f in range(1, 15):
        kf = kf.predicted(1).corrected(box_at(5.0 * f))
    cx, _ = centre(kf.predicted(6).box())
    assert cx == pytest.approx(5.0 * 20, abs=3.0)


def test_kalman_state_round_trip() -> None:
    kf = BoxKalman.start(box_at(10)).predicted(1).corrected(box_at(13))
    back = BoxKalman.from_state(kf.to_state())
    np.testing.assert_allclose(back.mean, kf.mean)
    np.testing.assert_allclose(back.cov, kf.cov)


def test_kalman_state_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="kalman state"):
        BoxKalman.from_state(KalmanState(mean=[0.0] * 4, cov=[[0.0] * 8] * 8))


def test_centre_distance_is_in_face_heights() -> None:
    d = centre_distance_matrix([box_at(0)], [box_at(40), box_at(0, size=40)])
    np.testing.assert_allclose(d, [[40 / 80, 0.0]])


@pytest.mark.parametrize(
    ("tracks", "dets", "iou_thr", "max_dist", "matches"),
    [
        pytest.param([box_at(0)], [box_at(10)], 0.3, 0.5, [(0, 0)], id="overlap"),
        pytest.param([box_at(0)], [box_at(70)], 0.3, 0.5, [], id="far-no-match"),
        pytest.param([box_at(0)], [box_at(70)], 0.3, 1.0, [(0, 0)], id="near-centre-gate"),
        pytest.param(
            [box_at(0), box_at(100)], [box_at(95), box_at(5)], 0.3, 0.5, [(0, 1), (1, 0)], id="order"
        ),
    ],
)
def test_associate_gated(
    tracks: list[BoxXYXY],
    dets: list[BoxXYXY],
    iou_thr: float,
    max_dist: float,
    matches: list[tuple[int, int]],
) -> None:
    assert associate_gated(tracks, dets, iou_thr, max_dist, 0.5)[0] == matches


def euro_run(signal: list[float], cfg: TrackerConfig, beta: float | None = None) -> list[float]:
    f = OneEuroBox(box_at(signal[0]))
    b = cfg.euro_beta if beta is None else beta
    return [centre(f.step(box_at(x), 1, cfg.euro_min_cutoff, b, cfg.euro_d_cutoff))[0] for x in signal[1:]]


def ema_run(signal: list[float], alpha: float) -> list[float]:
    out = [signal[0]]
    for x in signal[1:]:
        out.append(alpha * x + (1 - alpha) * out[-1])
    return out[1:]


def test_default_one_euro_jitters_no_more_than_ema_and_lags_far_less() -> None:
    cfg = TrackerConfig()
    rng = np.random.default_rng(0)
    still = list(100 + rng.normal(0, 2.0, 300))
    assert np.std(euro_run(still, cfg)[30:]) <= 1.05 * np.std(ema_run(still, cfg.box_alpha)[30:])
    moving = [8.0 * f for f in range(200)]
    euro_lag = np.mean([x - y for x, y in zip(moving[1:], euro_run(moving, cfg), strict=True)][30:])
    ema_lag = np.mean([x - y for x, y in zip(moving[1:], ema_run(moving, cfg.box_alpha), strict=True)][30:])
    assert euro_lag < ema_lag / 3
    no_beta = np.mean([x - y for x, y in zip(moving[1:], euro_run(moving, cfg, beta=0.0), strict=True)][30:])
    assert no_beta > 3 * euro_lag, "beta (the speed term) is what removes the lag"


def test_one_euro_state_round_trip() -> None:
    f = OneEuroBox(box_at(0))
    f.step(box_at(5), 1, 0.05, 0.05, 0.2)
    g = OneEuroBox.from_state(f.to_state())
    assert g.step(box_at(9), 2, 0.05, 0.05, 0.2) == f.step(box_at(9), 2, 0.05, 0.05, 0.2)


def probs() -> dict[str, float]:
    return {k: 1 / len(CANONICAL_LABELS) for k in CANONICAL_LABELS}


def crossing(
    frames: int, speed: float, hide_within: float, dy: float = 0.0
) -> list[list[tuple[int, BoxXYXY]]]:
    """Per frame, (true id, box) of two faces crossing; face 2 (behind) is not detected while the
    centres are closer than ``hide_within`` px. Detection order alternates."""
    out = []
    for f in range(frames):
        a, b = 60 + speed * f, 60 + speed * (frames - 1) - speed * f
        faces = [(1, box_at(a, 100)), (2, box_at(b, 100 + dy))]
        if abs(a - b) < hide_within:
            faces = faces[:1]
        out.append(faces if f % 2 else faces[::-1])
    return out


def id_map_changes(tracker: CameraTracker, frames: list[list[tuple[int, BoxXYXY]]]) -> int:
    """How often a true face is published under a different track id than before (ID switches)."""
    seen: dict[int, int] = {}
    switches = 0
    for seq, faces in enumerate(frames):
        views = tracker.update(seq, [Observation(b, probs()) for _, b in faces])
        for view in views:
            true = min(faces, key=lambda tb: math.dist(centre(tb[1]), centre(view.box_xyxy)))[0]
            if true in seen and seen[true] != view.track_id:
                switches += 1
            seen[true] = view.track_id
    return switches


@pytest.mark.parametrize(
    ("speed", "hide_within", "dy"),
    [(4.0, 60.0, 0.0), (6.0, 90.0, 0.0), (8.0, 120.0, 10.0), (10.0, 150.0, -10.0)],
)
def test_crossing_with_occlusion_keeps_ids(speed: float, hide_within: float, dy: float) -> None:
    assert id_map_changes(CameraTracker(TrackerConfig()), crossing(80, speed, hide_within, dy)) == 0


def test_without_motion_the_hidden_face_comes_back_as_someone_else() -> None:
    """The comparison that shows the motion model matters: same crossing, no prediction."""
    frames = crossing(80, 8.0, 120.0)
    assert id_map_changes(CameraTracker(TrackerConfig(motion="none")), frames) > 0
    assert id_map_changes(CameraTracker(TrackerConfig()), frames) == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"motion": "teleport"}, "motion"),
        ({"box_filter": "median"}, "box_filter"),
        ({"max_centre_dist": -1.0}, "max_centre_dist"),
        ({"euro_min_cutoff": 0.0}, "euro_min_cutoff"),
    ],
)
def test_config_rejects_bad_new_fields(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**overrides)  # type: ignore[arg-type]


def test_version_1_checkpoint_still_loads() -> None:
    tracker = CameraTracker()
    tracker.update(0, [Observation(box_at(0), probs())])
    state = json.loads(msgspec.json.encode(tracker.to_state()))
    state["version"] = 1
    for t in state["tracks"]:
        del t["kalman"], t["euro"]
    restored = CameraTracker.from_state(
        msgspec.json.decode(json.dumps(state), type=TrackerState), TrackerConfig()
    )
    assert [v.track_id for v in restored.update(1, [Observation(box_at(3), probs())])] == [1]
