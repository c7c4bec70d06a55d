"""TrackerHandler without Redis: order, gaps from skip markers and timeouts, End, checkpoints."""

from __future__ import annotations

import json

from services.common.schema import Emotions, End, FaceEmotion, Message, Mode, Skip, Tracks
from services.common.streams import Entry
from services.tracker import checkpoint
from services.tracker.service import TrackerHandler
from services.tracker.settings import TrackerSettings

PROBS = {"happy": 0.9, "sad": 0.1}


def emotions(seq: int, mode: Mode = "file", x: float = 0.0, *more_x: float) -> Emotions:
    """One frame with a face at ``x`` (and one at each of ``more_x``)."""
    faces = tuple(FaceEmotion(box_xyxy=(v, 0, v + 80, 80), score=0.99, probs=PROBS) for v in (x, *more_x))
    return Emotions(
        camera_id="c",
        seq=seq,
        captured_ms=1000 + seq,
        mode=mode,
        frame_key="",
        size_wh=(640, 360),
        faces=faces,
    )


def entry(msg: Message) -> Entry:
    return Entry("emo:emotions:c", f"{msg.seq}-0", msg)


def handler(**overrides: object) -> TrackerHandler:
    return TrackerHandler(TrackerSettings(**overrides))  # type: ignore[arg-type]


def out_seqs(batch_outputs: list[tuple[str, Message]]) -> list[tuple[int, str]]:
    return [(m.seq, type(m).__name__) for _, m in batch_outputs]


def test_skip_marker_is_a_gap_not_a_stall() -> None:
    h = handler()
    skip = Skip(camera_id="c", seq=1, captured_ms=0, mode="file", stage="detector", reason="corrupt")
    batch = h.handle([entry(emotions(0)), entry(emotions(2)), entry(skip)], now_ms=0)
    assert out_seqs(batch.outputs) == [(0, "Tracks"), (1, "Skip"), (2, "Tracks")]
    assert len(batch.acks) == 3
    tracks = [m for _, m in batch.outputs if isinstance(m, Tracks)]
    assert [t.track_id for m in tracks for t in m.tracks] == [1, 1]


def test_live_missing_seq_is_given_up_after_the_window() -> None:
    h = handler(live_reorder_ms=100)
    first = h.handle([entry(emotions(5, "live")), entry(emotions(7, "live"))], now_ms=0)
    assert out_seqs(first.outputs) == [(5, "Tracks")]
    assert [e.entry_id for e in first.acks] == ["5-0"], "seq 7 stays pending until it is applied"
    assert h.tick(now_ms=50).outputs == []
    later = h.tick(now_ms=200)
    assert out_seqs(later.outputs) == [(7, "Tracks")]
    assert h.stats["gaps"] == 1


def test_redelivered_entry_is_acked_not_applied_twice() -> None:
    h = handler()
    h.handle([entry(emotions(0)), entry(emotions(1))], now_ms=0)
    again = h.handle([entry(emotions(1))], now_ms=1)
    assert again.outputs == [] and [e.entry_id for e in again.acks] == ["1-0"]


def test_checkpoint_and_adopt_continue_ids() -> None:
    a = handler()
    batch = a.handle([entry(emotions(s, x=3.0 * s)) for s in range(5)], now_ms=0)
    assert set(batch.writes) == {"emo:tracker:state:c", "emo:timeline:c"}, "state is committed with acks"
    assert batch.delete_keys == []
    state = a.checkpoint("c")
    assert state is not None and state.next_seq == 5 and state.mode == "file"
    stored = batch.writes["emo:tracker:state:c"][0]
    assert json.loads(stored)["tracker"]["next_id"] == 2, "the stored JSON keeps the plain field names"
    assert checkpoint.decode(stored) == state
    b = handler()
    b.adopt("c", stored, None)
    batch = b.handle([entry(emotions(5, x=15.0))], now_ms=0)
    (msg,) = [m for _, m in batch.outputs]
    assert isinstance(msg, Tracks) and [t.track_id for t in msg.tracks] == [1]
    fresh = handler()
    assert fresh.handle([entry(emotions(5, x=15.0))], now_ms=0).outputs == [], "file jobs start at seq 0"


def test_bad_checkpoint_starts_afresh() -> None:
    h = handler()
    h.adopt("c", json.dumps({"tracker": {"version": 99}}), json.dumps({"camera_id": "c"}))
    assert h.checkpoint("c") is None
    good = handler()
    good.handle([entry(emotions(0))], now_ms=0)
    state = good.checkpoint("c")
    assert state is not None
    future = json.loads(checkpoint.encode(state))
    future["tracker"]["version"] = 99
    h.adopt("c", json.dumps(future), "{not json")
    assert h.checkpoint("c") is None, "an unknown version starts afresh"
    assert [m.seq for _, m in h.handle([entry(emotions(0))], now_ms=0).outputs] == [0]


def test_end_finishes_the_camera() -> None:
    h = handler()
    end = End(camera_id="c", seq=2, captured_ms=0, mode="file", frames=2)
    batch = h.handle([entry(emotions(0)), entry(emotions(1)), entry(end)], now_ms=0)
    assert out_seqs(batch.outputs) == [(0, "Tracks"), (1, "Tracks"), (2, "End")]
    assert batch.delete_keys == ["emo:tracker:state:c"], "a finished job leaves no checkpoint"
    assert "emo:tracker:state:c" not in batch.writes and "emo:timeline:c" in batch.writes
    assert h.checkpoint("c") is None


def test_adopt_continues_the_stored_timeline() -> None:
    a = handler()
    batch = a.handle([entry(emotions(s, x=3.0 * s)) for s in range(3)], now_ms=0)
    state, timeline = batch.writes["emo:tracker:state:c"][0], batch.writes["emo:timeline:c"][0]
    b = handler()
    b.adopt("c", state, timeline)
    assert b.timelines["c"].document() == a.timelines["c"].document()
    (track,) = b.timelines["c"].document().tracks
    assert track.track_id == 1 and track.segments[0].frames == 3


def test_every_detected_face_travels_in_face_boxes_shown_or_held_back() -> None:
    """What the blur privacy mode covers: a face held back from the tracks (here by min_hits) is still
    in ``face_boxes``, so no image shows it unblurred."""
    h = handler(min_hits=3)
    batch = h.handle([entry(emotions(0, x=10.0))], now_ms=0)
    (msg,) = [m for _, m in batch.outputs if isinstance(m, Tracks)]
    assert msg.tracks == (), "tentative: not shown yet"
    assert msg.face_boxes == ((10.0, 0, 90.0, 80),)


def test_aggregate_identity_publishes_counts_and_no_track_or_timeline() -> None:
    """EMOSTREAM_IDENTITY=aggregate: no id, box or label of a person leaves the tracker, nor a timeline;
    the faces per shown label do (tracking still runs: the labels keep their hysteresis)."""
    h = handler(identity="aggregate")
    two = emotions(0, "file", 0.0, 300.0)
    batch = h.handle([entry(two)], now_ms=0)
    (msg,) = [m for _, m in batch.outputs if isinstance(m, Tracks)]
    assert msg.tracks == () and msg.counts == {"happy": 2} and msg.label_counts() == {"happy": 2}
    assert len(msg.face_boxes) == 2, "boxes without ids, for the blur"
    assert "emo:timeline:c" not in batch.writes
    plain = handler().handle([entry(two)], now_ms=0)
    (shown,) = [m for _, m in plain.outputs if isinstance(m, Tracks)]
    assert [t.track_id for t in shown.tracks] == [1, 2] and shown.counts == {}
    assert shown.label_counts() == {"happy": 2}, "the same counts, from the tracks"
