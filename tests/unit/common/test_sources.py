"""The one rule for camera URIs: what loops, and what is refused before anything stores or opens it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.sources import MAX_URI_CHARS, SourceError, check_uri, parse_uri, source_loops


@pytest.mark.parametrize(
    ("uri", "loops"),
    [
        ("/data/a.mp4", True),
        ("clip.mov", True),
        ("file:///data/a.mp4", True),
        ("0", False),
        ("device:1", False),
        ("/dev/video0", False),
        ("rtsp://10.0.0.1/live", False),
        ("http://cam/video.mjpg", False),
        ("push:webcam", False),
        ("x" * 5_000_000, False),  # refused, so it never loops (and never raises here)
    ],
)
def test_source_loops(uri: str, loops: bool) -> None:
    assert source_loops(uri) is loops


def test_a_folder_loops(tmp_path: Path) -> None:
    assert source_loops(str(tmp_path)) is True
    assert parse_uri(str(tmp_path)).kind == "folder"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a" * (MAX_URI_CHARS + 1), f"over the limit of {MAX_URI_CHARS}"),
        ("/tmp/a\x00b.mp4", "control character"),
        ("rtsp://cam/\nlive", "control character"),
    ],
)
def test_check_uri_refuses_with_the_reason(uri: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        check_uri(uri)
    with pytest.raises(SourceError, match=message):
        parse_uri(uri)


def test_a_name_too_long_for_the_file_system_is_a_source_error() -> None:
    # under the URI limit, but one path component of 2,000 bytes: is_dir() raises ENAMETOOLONG
    with pytest.raises(SourceError, match="not a usable path"):
        parse_uri("/tmp/" + "n" * 2000)


def test_check_uri_keeps_a_good_uri() -> None:
    assert check_uri("rtsp://user@cam:554/stream?x=1") == "rtsp://user@cam:554/stream?x=1"
    assert check_uri("a" * MAX_URI_CHARS) == "a" * MAX_URI_CHARS
