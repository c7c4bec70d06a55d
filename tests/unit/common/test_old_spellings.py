"""Job files written before each timeline field had one spelling are still read (issue 24, item 7).

The fixtures in ``golden/`` are such files as earlier versions wrote them: a ``timeline.json`` whose
segments carry ``start_frame``/``end_frame`` beside ``start_seq``/``end_seq``, and a ``summary.json``
whose tracks say ``first_frame``/``last_frame``. New files have only the one spelling.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from services.common.job_store import TrackSummary, read_summary
from services.common.timeline import encode_tracks, read_tracks

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_an_old_timeline_reads_with_its_frames_as_seqs_and_writes_back_in_one_spelling() -> None:
    tracks = read_tracks((GOLDEN / "timeline_old_spelling.json").read_bytes())
    assert [(s.label, s.start_seq, s.end_seq, s.start_s, s.end_s) for s in tracks[0].segments] == [
        ("sad", 0, 1, 0.0, 0.1),
        ("happy", 2, 3, 0.2, 0.3),
    ]
    rewritten = json.loads(encode_tracks(tracks))
    keys = set().union(*(seg.keys() for seg in rewritten[0]["segments"]))
    assert "start_frame" not in keys and "end_frame" not in keys and {"start_seq", "end_seq"} <= keys


def test_an_old_summary_reads_its_first_and_last_frame_as_seqs() -> None:
    summary = read_summary((GOLDEN / "summary_old_spelling.json").read_bytes())
    assert summary.tracks == (
        TrackSummary(
            track_id=1,
            frames=4,
            first_seq=0,
            last_seq=3,
            dominant_emotion="happy",
            mean_probs={"happy": 0.75, "sad": 0.25},
        ),
    )
    new = json.loads(msgspec.json.encode(summary))
    assert set(new["tracks"][0]) == {
        "track_id",
        "frames",
        "first_seq",
        "last_seq",
        "dominant_emotion",
        "mean_probs",
    }
    assert read_summary(msgspec.json.encode(summary)) == summary  # the new spelling round-trips


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",  # not an object
        b'{"status": "done", "tracks": [{"track_id": 1}]}',  # fields missing
        b'{"status": "done", "video": "v", "frames": 1, "fps": 1, "processing_s": 1, "processing_fps": 1, '
        b'"frames_with_faces": 0, "frames_skipped": 0, "tracks": [7]}',  # a track that is no object
        b"{not json",
    ],
)
def test_a_malformed_summary_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        read_summary(raw)
