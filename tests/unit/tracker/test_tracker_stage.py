"""CameraTracker: ids, ageing, smoothing, label hysteresis, tentative tracks and checkpoints."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.common.labels import CANONICAL_LABELS
from services.tracker.checkpoint import TrackerState
from services.tracker.service import config_from
from services.tracker.settings import TrackerSettings
from services.tracker.stage import CameraTracker, Observation, TrackerConfig, TrackView

# The original project's smoothing (EMA 0.3 boxes and probabilities, 3-frame label confirmation): the
# hand-computed expectations below are written for it.
ORIGINAL = TrackerConfig(
    box_filter="ema", box_alpha=0.3, prob_alpha=0.3, confirm_frames=3, label_margin=0.0, max_age_frames=10
)


def original(**overrides: Any) -> TrackerConfig:
    return TrackerConfig(**{**ORIGINAL.model_dump(), **overrides})


def probs_for(label: str, p: float = 0.8) -> dict[str, float]:
    """A distribution over the canonical labels with ``p`` on ``label`` and the rest spread evenly."""
    rest = (1.0 - p) / (len(CANONICAL_LABELS) - 1)
    return {name: (p if name == label else rest) for name in CANONICAL_LABELS}


def face(
    x: float, y: float = 0.0, size: float = 100.0, label: str = "neutral", p: float = 0.8
) -> Observation:
    return Observation(box_xyxy=(x, y, x + size, y + size), probs=probs_for(label, p))


def ids(views: list[TrackView]) -> list[int]:
    return [v.track_id for v in views]


def raw(cfg: TrackerConfig | None = None, **overrides: Any) -> CameraTracker:
    """A tracker with prob smoothing off (alpha 1) so label tests read the raw probabilities."""
    base = cfg or original(prob_alpha=1.0)
    return CameraTracker(TrackerConfig(**{**base.model_dump(), **overrides}))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iou_threshold": 1.5}, "iou_threshold"),
        ({"box_alpha": 0.0}, "box_alpha"),
        ({"prob_alpha": 1.2}, "prob_alpha"),
        ({"confirm_frames": 0}, "confirm_frames"),
        ({"label_margin": -0.1}, "label_margin"),
        ({"margin": 0.1}, "margin"),
        ({"max_age_frames": -1}, "max_age_frames"),
        ({"min_hits": 0}, "min_hits"),
    ],
)
def test_config_rejects_out_of_range(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**overrides)


def test_service_settings_and_config_share_defaults() -> None:
    assert config_from(TrackerSettings()) == TrackerConfig()


def test_first_frame_shows_new_faces_at_once_with_ids_from_one() -> None:
    views = CameraTracker(ORIGINAL).update(0, [face(500, label="happy"), face(0, label="sad")])
    assert ids(views) == [1, 2]
    assert [v.label for v in views] == ["happy", "sad"]
    assert [(v.hits, v.age_frames) for v in views] == [(1, 0), (1, 0)]
    assert views[0].confidence == pytest.approx(0.8)


def test_two_slowly_moving_faces_keep_ids_for_50_frames() -> None:
    tracker = CameraTracker(ORIGINAL)
    first = tracker.update(0, [face(0, label="happy"), face(400, label="sad")])
    assert ids(first) == [1, 2]
    for seq in range(1, 50):
        # Reverse the detection order every frame: ids must follow boxes, not list positions.
        obs = [face(400 - 3 * seq, 20, label="sad"), face(3 * seq, 10, label="happy")]
        views = tracker.update(seq, obs if seq % 2 else obs[::-1])
        assert ids(views) == [1, 2]
        assert views[0].label == "happy" and views[1].label == "sad"
    assert views[0].hits == 50 and views[0].age_frames == 49


@pytest.mark.parametrize("mode", ["empty", "gap", "skip"])
@pytest.mark.parametrize(("missing", "same_id"), [(1, True), (10, True), (11, False), (25, False)])
def test_disappearing_face_keeps_id_up_to_max_age_frames(mode: str, missing: int, same_id: bool) -> None:
    tracker = CameraTracker(original(max_age_frames=10))
    for seq in range(5):
        tracker.update(seq, [face(0)])
    for seq in range(5, 5 + missing):
        if mode == "empty":
            assert tracker.update(seq, []) == []
        elif mode == "skip":
            tracker.skip(seq)
    back = tracker.update(5 + missing, [face(2)])
    assert ids(back) == ([1] if same_id else [2])


def test_unmatched_tracks_are_not_published_but_kept() -> None:
    tracker = CameraTracker(ORIGINAL)
    tracker.update(0, [face(0), face(400)])
    assert ids(tracker.update(1, [face(400)])) == [2]
    assert ids(tracker.update(2, [face(0), face(400)])) == [1, 2]


def test_ids_are_never_reused() -> None:
    tracker = CameraTracker(original(max_age_frames=0))
    assert ids(tracker.update(0, [face(0)])) == [1]
    assert tracker.update(1, []) == []
    assert ids(tracker.update(2, [face(0)])) == [2]
    assert ids(tracker.update(3, [face(0), face(400)])) == [2, 3]


def test_ema_two_steps_match_hand_computed_values() -> None:
    tracker = CameraTracker(original(box_filter="ema"))  # box_alpha = prob_alpha = 0.3
    tracker.update(0, [Observation((0, 0, 100, 100), probs_for("neutral", 0.3))])
    tracker.update(1, [Observation((10, 10, 110, 110), probs_for("happy", 1.0))])
    (view,) = tracker.update(2, [Observation((20, 20, 120, 120), probs_for("happy", 1.0))])
    # box: 0 -> 0.3*10 + 0.7*0 = 3 -> 0.3*20 + 0.7*3 = 8.1; 100 -> 103 -> 108.1
    assert view.box_xyxy == pytest.approx((8.1, 8.1, 108.1, 108.1))
    # happy: 0.7/6 -> 0.3 + 0.7*(0.7/6) -> 0.3 + 0.7*(that)
    happy_0 = 0.7 / 6
    happy_2 = 0.3 + 0.7 * (0.3 + 0.7 * happy_0)
    assert view.probs["happy"] == pytest.approx(happy_2)
    assert view.probs["neutral"] == pytest.approx(0.49 * 0.3)
    assert view.raw_label == "happy"


def test_smoothed_probabilities_delay_the_flip() -> None:
    tracker = CameraTracker(ORIGINAL)  # prob_alpha 0.3: happy overtakes neutral only on the 2nd happy frame
    tracker.update(0, [face(0, label="neutral", p=0.9)])
    shown = [tracker.update(seq, [face(0, label="happy", p=0.9)])[0].label for seq in range(1, 6)]
    assert shown == ["neutral", "neutral", "neutral", "happy", "happy"]


def test_label_flips_only_after_three_consecutive_leading_frames() -> None:
    tracker = raw()
    shown, raws = [], []
    for seq, label in enumerate(["sad", "happy", "happy", "sad", "happy", "happy", "happy", "happy"]):
        (view,) = tracker.update(seq, [face(0, label=label)])
        shown.append(view.label)
        raws.append(view.raw_label)
    assert raws == ["sad", "happy", "happy", "sad", "happy", "happy", "happy", "happy"]
    assert shown == ["sad", "sad", "sad", "sad", "sad", "sad", "happy", "happy"]


def test_two_frame_blip_changes_raw_label_only() -> None:
    tracker = raw()
    labels = ["neutral", "neutral", "angry", "angry", "neutral", "neutral"]
    views = [tracker.update(seq, [face(0, label=label)])[0] for seq, label in enumerate(labels)]
    assert [v.label for v in views] == ["neutral"] * 6
    assert [v.raw_label for v in views] == labels
    assert views[2].confidence == pytest.approx(0.2 / 6)  # the shown label's probability, not the raw max


def lead(happy: float, sad: float) -> Observation:
    """Happy leads sad by ``happy - sad``; the remainder goes to neutral."""
    probs = dict.fromkeys(CANONICAL_LABELS, 0.0) | {"happy": happy, "sad": sad, "neutral": 1.0 - happy - sad}
    return Observation((0, 0, 100, 100), probs)


@pytest.mark.parametrize(
    ("margin", "frames", "expected_shown"),
    [
        pytest.param(0.2, [lead(0.5, 0.4)] * 5, ["sad"] * 5, id="lead-below-margin"),
        pytest.param(0.2, [lead(0.6, 0.3)] * 4, ["sad", "sad", "happy", "happy"], id="lead-above-margin"),
        pytest.param(0.0, [lead(0.5, 0.4)] * 3, ["sad", "sad", "happy"], id="no-margin"),
        pytest.param(
            0.2,
            [lead(0.6, 0.3), lead(0.6, 0.3), lead(0.5, 0.4), lead(0.6, 0.3), lead(0.6, 0.3)],
            ["sad"] * 5,
            id="small-lead-breaks-streak",
        ),
        pytest.param(
            0.0,
            [lead(0.6, 0.3), lead(0.6, 0.3), lead(0.5, 0.4)],
            ["sad", "sad", "happy"],
            id="same-frames-flip-without-margin",
        ),
    ],
)
def test_margin(margin: float, frames: list[Observation], expected_shown: list[str]) -> None:
    tracker = raw(label_margin=margin)
    tracker.update(0, [face(0, label="sad", p=0.9)])
    views = [tracker.update(seq, [obs])[0] for seq, obs in enumerate(frames, start=1)]
    assert [v.label for v in views] == expected_shown
    assert all(v.raw_label == "happy" for v in views)


@pytest.mark.parametrize(("min_hits", "first_shown_seq"), [(1, 0), (2, 1), (3, 2)])
def test_tentative_tracks_confirm_after_min_hits(min_hits: int, first_shown_seq: int) -> None:
    tracker = CameraTracker(original(min_hits=min_hits))
    shown = [ids(tracker.update(seq, [face(seq)])) for seq in range(4)]
    assert shown == [[] if seq < first_shown_seq else [1] for seq in range(4)]


def test_missed_tentative_track_is_dropped_but_survives_a_skip() -> None:
    cfg = original(min_hits=2)
    dropped = CameraTracker(cfg)
    dropped.update(0, [face(0)])
    dropped.update(1, [])
    assert dropped.update(2, [face(0)]) == []  # a fresh tentative track (id 2), one hit
    assert ids(dropped.update(3, [face(0)])) == [2]

    skipped = CameraTracker(cfg)
    skipped.update(0, [face(0)])
    skipped.skip(1)
    (view,) = skipped.update(2, [face(0)])
    assert (view.track_id, view.hits, view.age_frames) == (1, 2, 2)


def test_confirmed_track_survives_misses() -> None:
    tracker = CameraTracker(original(min_hits=2))
    tracker.update(0, [face(0)])
    tracker.update(1, [face(0)])
    tracker.update(2, [])
    assert ids(tracker.update(3, [face(0)])) == [1]


@pytest.mark.parametrize("seq", [4, 3])
def test_seq_must_increase(seq: int) -> None:
    tracker = CameraTracker(ORIGINAL)
    tracker.update(4, [face(0)])
    with pytest.raises(ValueError, match="seq must increase"):
        tracker.update(seq, [])
    with pytest.raises(ValueError, match="seq must increase"):
        tracker.skip(seq)


def test_state_round_trip_continues_ids_and_streaks() -> None:
    cfg = TrackerConfig(**{**ORIGINAL.model_dump(), "prob_alpha": 1.0, "min_hits": 2})
    original = CameraTracker(cfg)
    original.update(0, [face(0, label="sad"), face(400, label="sad")])
    original.update(1, [face(2, label="happy"), face(402, label="sad")])  # track 1: happy streak 1
    original.update(2, [face(4, label="happy"), face(800)])  # track 3 tentative, track 2 missed
    original.skip(3)

    state = msgspec.json.decode(msgspec.json.encode(original.to_state()), type=TrackerState)  # via JSON
    restored = CameraTracker.from_state(state, cfg)
    assert restored.to_state() == original.to_state()

    frames = [
        (4, [face(6, label="happy"), face(404, label="sad"), face(802), face(1200)]),
        (5, [face(8, label="happy"), face(406, label="sad"), face(804), face(1202)]),
    ]
    for seq, obs in frames:
        assert restored.update(seq, obs) == original.update(seq, obs)
    views = restored.update(6, [face(10, label="happy"), face(2000)])
    assert [(v.track_id, v.label) for v in views] == [(1, "happy")]
    assert restored.next_id == 6


def test_from_state_rejects_unknown_version() -> None:
    state = msgspec.structs.replace(CameraTracker(ORIGINAL).to_state(), version=99)
    with pytest.raises(ValueError, match="version"):
        CameraTracker.from_state(state, original())


@pytest.mark.parametrize(("empty_frames", "kept"), [(10, 1), (11, 0)])
def test_expired_tracks_leave_the_checkpoint(empty_frames: int, kept: int) -> None:
    tracker = CameraTracker(original(max_age_frames=10))
    tracker.update(0, [face(0)])
    for seq in range(1, 1 + empty_frames):
        tracker.update(seq, [])
    assert len(tracker.to_state().tracks) == kept
