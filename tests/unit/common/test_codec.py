"""The wire codec: round trips, golden v1 bytes, and every way an entry can be malformed.

Regenerate the golden files (only when adding a new type or version, never to "fix" a failing test):
``PYTHONPATH=. .venv/bin/python tests/unit/common/test_codec.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import pytest

from services.common import codec
from services.common.schema import (
    TYPES,
    WIRE_NAMES,
    Emotions,
    End,
    Event,
    Face,
    FaceEmotion,
    Faces,
    Frame,
    Message,
    Skip,
    Track,
    Tracks,
)

GOLDEN = Path(__file__).resolve().parent / "golden"

#: One fixed example per wire type, with non-default values wherever a field has a default.
EXAMPLES: dict[str, Message] = {
    "frame": Frame(
        camera_id="cam-1",
        seq=7,
        captured_ms=1_700_000_000_123,
        mode="file",
        frame_key="frame:cam-1:7",
        size_wh=(640, 360),
    ),
    "faces": Faces(
        camera_id="cam-1",
        seq=8,
        captured_ms=1_700_000_000_223,
        mode="live",
        frame_key="frame:cam-1:8",
        size_wh=(640, 360),
        faces=(
            Face(
                box_xyxy=(10.5, 20.25, 110.0, 140.75),
                score=0.99,
                landmarks_xy=((30.0, 50.0), (70.0, 50.0), (50.0, 70.0), (35.0, 90.0), (65.0, 90.0)),
                crop_jpeg=b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9",
            ),
            Face(box_xyxy=(200.0, 30.0, 260.0, 100.0), score=0.5),
        ),
    ),
    "emotions": Emotions(
        camera_id="cam.2",
        seq=9,
        captured_ms=1_700_000_000_323,
        mode="file",
        frame_key="frame:cam.2:9",
        size_wh=(1280, 720),
        faces=(
            FaceEmotion(box_xyxy=(1.0, 2.0, 3.0, 4.0), score=0.875, probs={"happy": 0.75, "neutral": 0.25}),
        ),
        model="trpakov/vit-face-expression",
    ),
    "tracks": Tracks(
        camera_id="cam_3",
        seq=10,
        captured_ms=1_700_000_000_423,
        frame_key="frame:cam_3:10",
        size_wh=(320, 240),
        tracks=(
            Track(
                track_id=4,
                box_xyxy=(5.0, 6.0, 50.0, 60.0),
                label="sad",
                confidence=0.625,
                raw_label="angry",
                probs={"sad": 0.625, "angry": 0.375},
            ),
        ),
    ),
    "skip": Skip(
        camera_id="cam-1",
        seq=11,
        captured_ms=1_700_000_000_523,
        stage="detector",
        reason="older than 2500 ms",
    ),
    "end": End(
        camera_id="job-9", seq=72, captured_ms=1_700_000_000_623, mode="file", frames=72, error="boom"
    ),
    "event": Event(
        camera_id="cam-1",
        seq=70,
        captured_ms=1_700_000_000_700,
        event_id="cam-1:3:track_ended:1",
        kind="track_ended",
        track_id=3,
        label="sad",
        confidence=0.61,
        box_xyxy=(10.0, 20.0, 110.0, 140.0),
        duration_s=6.5,
        labels_s={"neutral": 2.0, "sad": 4.5},
    ),
}


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}_v1.bin"


def fields_of(name: str, body: bytes | None, v: str | bytes = b"1") -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {b"type": name.encode(), b"v": v if isinstance(v, bytes) else v.encode()}
    if body is not None:
        fields[b"body"] = body
    return fields


def body_dict(name: str) -> dict[str, object]:
    """The example's body as a plain dict, to be edited and re-encoded."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(EXAMPLES[name]))  # type: ignore[no-any-return]


def test_examples_cover_every_type() -> None:
    assert set(EXAMPLES) == set(TYPES)
    for name, message in EXAMPLES.items():
        assert WIRE_NAMES[type(message)] == name


@pytest.mark.parametrize("name", sorted(TYPES))
def test_round_trip(name: str) -> None:
    message = EXAMPLES[name]
    fields = codec.encode(message)
    assert fields["type"] == name.encode()
    assert fields["v"] == str(TYPES[name][1]).encode()
    assert isinstance(fields["body"], bytes)
    decoded = codec.decode(fields)
    assert type(decoded) is type(message)
    assert decoded == message


@pytest.mark.parametrize("name", sorted(TYPES))
def test_round_trip_with_str_keys(name: str) -> None:
    """Entries read with decode_responses-style keys still decode (the body stays bytes)."""
    fields = {k: v for k, v in codec.encode(EXAMPLES[name]).items()}
    str_fields = {"type": fields["type"].decode(), "v": fields["v"].decode(), "body": fields["body"]}
    assert codec.decode(str_fields) == EXAMPLES[name]


@pytest.mark.parametrize("name", sorted(TYPES))
def test_golden_v1_decodes(name: str) -> None:
    path = golden_path(name)
    assert path.is_file(), f"missing golden fixture {path}; v1 bodies must stay decodable"
    decoded = codec.decode(fields_of(name, path.read_bytes(), "1"))
    assert decoded == EXAMPLES[name]


def test_unknown_body_field_is_ignored() -> None:
    raw = body_dict("frame")
    raw["added_in_the_future"] = {"nested": [1, 2, 3]}
    decoded = codec.decode(fields_of("frame", msgspec.msgpack.encode(raw)))
    assert decoded == EXAMPLES["frame"]


def test_missing_field_with_default_takes_the_default() -> None:
    raw = body_dict("end")
    del raw["error"]
    del raw["mode"]
    decoded = codec.decode(fields_of("end", msgspec.msgpack.encode(raw)))
    assert isinstance(decoded, End)
    assert (decoded.error, decoded.mode, decoded.frames) == ("", "live", 72)


def _without(name: str, field: str) -> bytes:
    raw = body_dict(name)
    del raw[field]
    return msgspec.msgpack.encode(raw)


def _with(name: str, field: str, value: object) -> bytes:
    raw = body_dict(name)
    raw[field] = value
    return msgspec.msgpack.encode(raw)


FRAME_BODY = msgspec.msgpack.encode(EXAMPLES["frame"])


@pytest.mark.parametrize(
    ("fields", "message_part"),
    [
        pytest.param(fields_of("frame", _without("frame", "camera_id")), "camera_id", id="missing camera_id"),
        pytest.param(fields_of("frame", _without("frame", "seq")), "seq", id="missing seq"),
        pytest.param(fields_of("frame", _without("frame", "frame_key")), "frame_key", id="missing frame_key"),
        pytest.param(fields_of("skip", _without("skip", "reason")), "reason", id="missing skip reason"),
        pytest.param(fields_of("frame", _with("frame", "seq", "seven")), "seq", id="seq as text"),
        pytest.param(
            fields_of("frame", _with("frame", "size_wh", [1, 2, 3])), "size_wh", id="size_wh 3 ints"
        ),
        pytest.param(fields_of("frame", _with("frame", "mode", "batch")), "mode", id="mode not live|file"),
        pytest.param(fields_of("faces", _with("faces", "faces", "none")), "faces", id="faces not a list"),
        pytest.param(fields_of("frame", msgspec.msgpack.encode([1, 2])), "frame", id="body an array"),
        pytest.param(fields_of("frame", b"junk"), "bad 'frame' body", id="not msgpack"),
        pytest.param(fields_of("frame", b""), "frame", id="empty body"),
        pytest.param(fields_of("frame", None), "no binary body", id="missing body"),
        pytest.param(fields_of("gizmo", FRAME_BODY), "unknown message type 'gizmo'", id="unknown type"),
        pytest.param(fields_of("Frame", FRAME_BODY), "unknown message type", id="type is case-sensitive"),
        pytest.param(fields_of("frame", FRAME_BODY, "2"), "unsupported version '2'", id="version too new"),
        pytest.param(fields_of("frame", FRAME_BODY, "0"), "unsupported version '0'", id="version 0"),
        pytest.param(fields_of("frame", FRAME_BODY, "one"), "unsupported version 'one'", id="version text"),
        pytest.param(fields_of("frame", FRAME_BODY, "-1"), "unsupported version", id="version negative"),
        pytest.param(fields_of("frame", FRAME_BODY, "1.0"), "unsupported version", id="version float"),
        pytest.param(fields_of("frame", FRAME_BODY, ""), "unsupported version", id="version empty"),
        pytest.param(fields_of("frame", FRAME_BODY, "²"), "unsupported version", id="version superscript"),
        pytest.param({b"v": b"1", b"body": FRAME_BODY}, "no 'type' field", id="missing type"),
        pytest.param({b"type": b"frame", b"body": FRAME_BODY}, "no 'v' field", id="missing version"),
        pytest.param({b"type": b"\xff\xfe", b"v": b"1", b"body": FRAME_BODY}, "type", id="type not utf-8"),
        pytest.param({b"type": b"frame", b"v": b"\xff", b"body": FRAME_BODY}, "'v'", id="version not utf-8"),
        pytest.param({}, "no 'type' field", id="empty entry"),
    ],
)
def test_malformed_entry_raises_schema_error(fields: dict[bytes, bytes], message_part: str) -> None:
    with pytest.raises(codec.SchemaError) as info:
        codec.decode(fields)
    assert message_part in str(info.value)


def test_schema_error_is_a_value_error() -> None:
    assert issubclass(codec.SchemaError, ValueError)


def write_golden() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, message in EXAMPLES.items():
        fields = codec.encode(message)
        assert fields["v"] == b"1", "golden files are v1; add <type>_v2.bin fixtures for a new version"
        golden_path(name).write_bytes(fields["body"])
        print(f"wrote {golden_path(name)}")


if __name__ == "__main__":
    if "--force" not in sys.argv and any(golden_path(n).exists() for n in EXAMPLES):
        sys.exit("golden files exist; pass --force to overwrite (v1 bytes must never change)")
    write_golden()
