"""CameraTracker's re-identification, held-back new faces, appearance in the association, and the
occlusion-aware motion (ORU, doubtful boxes). Descriptors here are synthetic unit vectors, so each test
controls exactly how alike two people look; tests/e2e/test_tracking_clips.py runs the same logic on real
MTCNN detections and descriptors."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from services.common.appearance import pack
from services.tracker import checkpoint
from services.tracker.checkpoint import TrackerState
from services.tracker.motion import BoxKalman
from services.tracker.stage import CameraTracker, Observation, TrackerConfig, TrackView

PROBS = {"happy": 0.7, "neutral": 0.3}
FPS_MS = 40


def look(seed: int, near: int | None = None, mix: float = 0.0) -> bytes:
    """A unit descriptor of person ``seed``; with ``near``, ``mix`` of it is person ``near``'s."""
    v = np.random.default_rng(seed).normal(size=32)
    if near is not None:
        v = (1 - mix) * v / np.linalg.norm(v) + mix * np.random.default_rng(near).normal(size=32) / np.sqrt(
            32
        )
    return pack(v / np.linalg.norm(v))


def face(x: float, person: int | bytes, y: float = 100.0, size: float = 80.0) -> Observation:
    appearance = person if isinstance(person, bytes) else look(person)
    return Observation((x, y, x + size, y + size), PROBS, 0.99, appearance)


def tracker(**overrides: Any) -> CameraTracker:
    return CameraTracker(TrackerConfig(**overrides))


def step(t: CameraTracker, seq: int, *faces: Observation) -> list[TrackView]:
    return t.update(seq, list(faces), seq * FPS_MS)


def walk_out(t: CameraTracker, person: int = 1, frames: int = 20, start: int = 0) -> int:
    """Person walks right from x=100 for ``frames`` frames; returns the next seq."""
    for i in range(frames):
        step(t, start + i, face(100 + 4 * i, person))
    return start + frames


def empty(t: CameraTracker, start: int, frames: int) -> int:
    for seq in range(start, start + frames):
        step(t, seq)
    return start + frames


def test_a_returning_person_gets_their_id_back_after_the_track_was_lost() -> None:
    t = tracker(max_age_frames=10)
    seq = walk_out(t)
    seq = empty(t, seq, 50)  # 2 s away: far beyond max_age, within reid_window_s
    views = [step(t, s, face(300, 1)) for s in range(seq, seq + 5)]
    assert [[v.track_id for v in frame] for frame in views] == [[1]] * 5, "known from its first frame"


def test_a_new_face_is_held_back_while_it_may_be_a_lost_person() -> None:
    t = tracker(max_age_frames=10, reid_wait_frames=3)
    seq = empty(t, walk_out(t), 30)
    partial = look(1, near=7, mix=0.6)  # the first view, half out of the frame, looks like no one yet
    views = [step(t, seq, face(560, partial))]
    views += [step(t, s, face(560 - 5 * (s - seq), 1)) for s in range(seq + 1, seq + 4)]
    assert views[0] == [], "not shown under a new id while it may be person 1"
    assert [v.track_id for frame in views[1:] for v in frame] == [1, 1, 1]
    newcomer = step(t, seq + 4, face(540, 1), face(100, 5))
    assert [v.track_id for v in newcomer] == [1, 2], "the held-back face used no id: the next is 2"


def test_a_held_back_face_that_is_no_one_lost_is_shown_after_the_wait() -> None:
    t = tracker(max_age_frames=10, reid_wait_frames=3)
    seq = empty(t, walk_out(t), 30)
    views = [step(t, s, face(300, 2)) for s in range(seq, seq + 4)]
    assert [[v.track_id for v in frame] for frame in views] == [[], [], [2], [2]]


def test_without_re_identification_the_same_person_gets_a_new_id() -> None:
    t = tracker(max_age_frames=10, reid_window_s=0)
    seq = empty(t, walk_out(t), 50)
    assert [v.track_id for v in step(t, seq, face(300, 1))] == [2]


def test_a_stranger_gets_a_new_id_and_the_lost_person_keeps_theirs() -> None:
    t = tracker(max_age_frames=10)
    seq = empty(t, walk_out(t), 30)
    # the stranger walks in exactly where person 1 left, while 1 is lost
    for s in range(seq, seq + 10):
        stranger = step(t, s, face(180, 2))
    assert [v.track_id for v in stranger] == [2]
    seq = empty(t, seq + 10, 20)
    for s in range(seq, seq + 5):
        back = step(t, s, face(180, 1))
    assert [v.track_id for v in back] == [1]


def test_a_lookalike_below_the_similarity_threshold_is_a_new_person() -> None:
    t = tracker(max_age_frames=10, reid_min_similarity=0.93)
    seq = empty(t, walk_out(t), 30)
    alike = look(2, near=1, mix=0.5)  # similar to person 1, not enough
    similarity = float(np.frombuffer(alike, "<f2").astype(np.float32) @ np.frombuffer(look(1), "<f2"))
    assert 0.3 < similarity < 0.93
    for s in range(seq, seq + 5):
        views = step(t, s, face(180, alike))
    assert [v.track_id for v in views] == [2]


def test_the_window_expires() -> None:
    t = tracker(max_age_frames=10, reid_window_s=1.0)
    seq = empty(t, walk_out(t), 40)  # last seen 1.6 s before it returns
    views = [step(t, s, face(300, 1)) for s in range(seq, seq + 3)]
    assert views[0] and views[0][0].track_id == 2, "nothing was lost any more: shown at once, new id"


def test_two_lost_people_who_look_alike_give_neither_id_away() -> None:
    t = tracker(max_age_frames=5, reid_margin=0.05)
    a, b = look(1), look(1, near=2, mix=0.01)  # nearly the same descriptor
    for s in range(20):
        step(t, s, face(100, a), face(400, b))
    seq = empty(t, 20, 20)
    for s in range(seq, seq + 5):
        views = step(t, s, face(250, a))
    assert [v.track_id for v in views] == [3], "ambiguous: a new id is safer than a wrong merge"


def test_the_size_gate_refuses_a_face_twice_as_large() -> None:
    t = tracker(max_age_frames=10)
    seq = empty(t, walk_out(t), 30)
    for s in range(seq, seq + 5):
        views = step(t, s, face(200, 1, size=200))
    assert [v.track_id for v in views] == [2]


def test_the_label_state_continues_after_re_identification() -> None:
    t = tracker(max_age_frames=10, confirm_frames=2, prob_alpha=1.0)
    sad = {"happy": 0.1, "neutral": 0.1, "sad": 0.8}
    for s in range(10):
        t.update(s, [Observation((100, 100, 180, 180), sad, 0.99, look(1))], s * FPS_MS)
    seq = empty(t, 10, 30)
    views = []
    for s in range(seq, seq + 3):
        views = t.update(s, [Observation((120, 100, 200, 180), sad, 0.99, look(1))], s * FPS_MS)
    assert views[0].track_id == 1 and views[0].label == "sad"
    assert views[0].age_frames == seq + 2, "its age counts from its first frame, not from its return"


def test_lost_tracks_survive_a_checkpoint() -> None:
    config = TrackerConfig(max_age_frames=10)
    t = CameraTracker(config)
    seq = empty(t, walk_out(t), 30)
    raw = checkpoint.encode(checkpoint.Checkpoint(t.to_state(), seq, "live"))
    restored = CameraTracker.from_state(checkpoint.decode(raw).tracker, config)
    assert len(restored.to_state().lost) == 1
    for s in range(seq, seq + 5):
        views = step(restored, s, face(300, 1))
    assert [v.track_id for v in views] == [1]


def test_a_version_2_checkpoint_loads_without_descriptors() -> None:
    t = tracker()
    step(t, 0, Observation((0, 0, 80, 80), PROBS))
    old = msgspec.to_builtins(t.to_state())
    old["version"] = 2
    for key in ("lost",):
        old.pop(key)
    for track in old["tracks"]:
        track.pop("appearance")
        track.pop("last_ms")
    restored = CameraTracker.from_state(msgspec.convert(old, TrackerState), TrackerConfig())
    assert [v.track_id for v in restored.update(1, [Observation((2, 0, 82, 80), PROBS)], 40)] == [1]


def test_a_bad_descriptor_is_refused_with_a_clear_error() -> None:
    t = tracker()
    with pytest.raises(ValueError, match="float16"):
        t.update(0, [Observation((0, 0, 80, 80), PROBS, 0.99, b"\x00\x01\x02")])


@pytest.mark.parametrize(("weight", "follows"), [(2.0, "looks"), (0.0, "places")])
def test_appearance_decides_between_faces_that_motion_cannot_tell_apart(weight: float, follows: str) -> None:
    # two faces 200 px apart jump past each other between two frames (a dropped stretch): with wide
    # gates motion prefers the nearer places (2.75 against 3.75), their looks say they swapped sides
    happy, sad = {"happy": 0.9, "sad": 0.1}, {"happy": 0.1, "sad": 0.9}
    t = tracker(appearance_weight=weight, max_centre_dist=3.0, iou_threshold=0.0)

    def frame(seq: int, x1: float, x2: float) -> dict[int, str]:
        one = Observation((x1, 100, x1 + 80, 180), happy, 0.99, look(1))
        two = Observation((x2, 100, x2 + 80, 180), sad, 0.99, look(2))
        return {v.track_id: v.raw_label for v in t.update(seq, [one, two], seq * FPS_MS)}

    for s in range(10):
        frame(s, 100, 300)
    jumped = frame(10, 240, 160)
    assert jumped == ({1: "happy", 2: "sad"} if follows == "looks" else {1: "sad", 2: "happy"})


def test_a_stranger_at_a_hidden_face_s_predicted_place_does_not_take_its_id() -> None:
    t = tracker()
    for s in range(10):
        step(t, s, face(100 + 2 * s, 1))
    step(t, 10)
    step(t, 11)  # hidden for two frames; the prediction is at x ~ 124
    views = step(t, 12, face(124, 2))
    assert 1 not in [v.track_id for v in views]


def test_observation_centric_re_update_restores_the_speed_after_a_gap() -> None:
    # a face stood still, started walking at 5 px/frame while hidden, and is seen again 10 frames later
    k = BoxKalman.start((0, 0, 80, 80))
    for _ in range(10):
        k = k.predicted(1).corrected((0, 0, 80, 80))
    box = (50, 0, 130, 80)
    plain = k.predicted(10).corrected(box)
    oru = k.reupdated(10, box)
    assert abs(oru.mean[4] - 5.0) < abs(plain.mean[4] - 5.0)  # measured: 3.6 against 2.95 px/frame
    assert oru.box() == pytest.approx(plain.box(), abs=3.0)


def test_a_doubtful_box_barely_moves_the_motion_state() -> None:
    k = BoxKalman.start((0, 0, 80, 80)).predicted(1)
    half = (0, 40, 80, 80)  # the lower half of the face: the upper half is hidden
    moved, doubted = (abs(k.corrected(half, n).mean[1] - k.mean[1]) for n in (1.0, 10.0))
    assert doubted < moved / 4


def test_occluded_faces_do_not_change_a_track_s_descriptor() -> None:
    t = tracker(appearance_alpha=1.0)
    step(t, 0, face(100, 1), face(300, 2))
    first = t._tracks[0]
    before = np.array(first.appearance)
    mixed = look(1, near=2, mix=0.3)  # face 2 passes in front: face 1's box holds some of its pixels
    step(t, 1, face(102, mixed), face(130, 2))
    assert first.last_seq == 1 and np.allclose(first.appearance, before)  # type: ignore[arg-type]
    step(t, 2, face(104, mixed), face(300, 2))  # clear again: the same pixels now count
    assert not np.allclose(first.appearance, before)  # type: ignore[arg-type]


def test_a_track_matched_by_motion_is_not_also_given_to_a_look_alike() -> None:
    t = tracker()
    for s in range(10):
        step(t, s, face(100, 1))
    step(t, 10)
    step(t, 11)  # hidden two frames: a re-identification candidate until it is matched again
    views = step(t, 12, face(100, 1), face(400, 1))  # back where predicted, and a twin far away
    assert [v.track_id for v in views] == [1, 2], "one face per track: the twin is someone new"
    assert views[0].box_xyxy[0] < 200
