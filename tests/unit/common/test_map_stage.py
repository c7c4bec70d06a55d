"""map_stage is pure: entries in, one Batch out. These cases need no Redis."""

from __future__ import annotations

from collections import Counter

import pytest

from services.common.schema import End, Frame, Message, Skip
from services.common.streams import Entry
from services.common.worker import map_stage

NOW = 1_000_000


def frame(cam: str, seq: int, age_ms: int = 0, mode: str = "live") -> Entry:
    msg = Frame(
        camera_id=cam,
        seq=seq,
        captured_ms=NOW - age_ms,
        mode=mode,  # type: ignore[arg-type]
        frame_key=f"frame:{cam}:{seq}",
        size_wh=(4, 4),
    )
    return Entry(f"emo:frames:{cam}", f"{seq}-0", msg)


def echo(messages: list[Message]) -> list[Message | Exception]:
    return list(messages)


def run(entries: list[Entry], latest: bool) -> tuple[list[tuple[str, int, str]], Counter[str]]:
    stats: Counter[str] = Counter()
    batch = map_stage(
        entries,
        NOW,
        service="detector",
        output_kind="faces",
        max_age_ms=100,
        accept=Frame,
        process=echo,
        stats=stats,
        latest_live_only=latest,
    )
    assert len(batch.acks) == len(entries), "every input is acked exactly once"
    kinds = [
        (m.camera_id, m.seq, "skip:" + m.reason if isinstance(m, Skip) else "done") for _, m in batch.outputs
    ]
    return kinds, stats


@pytest.mark.parametrize(
    ("entries", "latest", "expected"),
    [
        # without latest_live_only every fresh frame is processed
        ([frame("a", 1), frame("a", 2)], False, [("a", 1, "done"), ("a", 2, "done")]),
        # with it only the newest live frame per camera is, the older one becomes a gap in place
        (
            [frame("a", 1), frame("a", 2), frame("b", 7)],
            True,
            [("a", 1, "skip:superseded by a newer live frame"), ("a", 2, "done"), ("b", 7, "done")],
        ),
        # file jobs are never superseded
        (
            [frame("a", 1, mode="file"), frame("a", 2, mode="file")],
            True,
            [("a", 1, "done"), ("a", 2, "done")],
        ),
        # the deadline applies to live frames only
        (
            [frame("a", 1, age_ms=500), frame("b", 1, age_ms=500, mode="file")],
            True,
            [("a", 1, "skip:older than 100 ms"), ("b", 1, "done")],
        ),
    ],
)
def test_live_frames_dropped_in_place(
    entries: list[Entry], latest: bool, expected: list[tuple[str, int, str]]
) -> None:
    kinds, stats = run(entries, latest)
    assert kinds == expected
    assert stats["dropped"] == sum(1 for k in expected if k[2].startswith("skip"))


def test_markers_pass_through_in_order() -> None:
    end = End(camera_id="a", seq=2, captured_ms=NOW, mode="file", frames=2)
    entries = [frame("a", 0, mode="file"), frame("a", 1, mode="file"), Entry("emo:frames:a", "9-0", end)]
    stats: Counter[str] = Counter()
    batch = map_stage(
        entries,
        NOW,
        service="detector",
        output_kind="faces",
        max_age_ms=100,
        accept=Frame,
        process=echo,
        stats=stats,
    )
    assert [type(m).__name__ for _, m in batch.outputs] == ["Frame", "Frame", "End"]
    assert all(stream == "emo:faces:a" for stream, _ in batch.outputs)
