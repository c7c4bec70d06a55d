"""The ``push:`` camera kind: frames come from another process (the UI's webcam); ingest never opens it."""

from __future__ import annotations

import pytest

from services.common.sources import SourceError, parse_uri
from services.ingest.service import is_pushed


@pytest.mark.parametrize(
    ("uri", "kind", "target"),
    [
        ("push:webcam-ab12", "push", "webcam-ab12"),
        ("  push:webcam-1 ", "push", "webcam-1"),
        ("pushed.mp4", "file", "pushed.mp4"),
        ("0", "device", "0"),
        ("rtsp://127.0.0.1/push:x", "url", "rtsp://127.0.0.1/push:x"),
    ],
)
def test_parse_uri_push(uri: str, kind: str, target: str) -> None:
    spec = parse_uri(uri)
    assert (spec.kind, spec.target) == (kind, target)


def test_push_without_a_name_is_refused() -> None:
    with pytest.raises(SourceError, match="needs a name"):
        parse_uri("push:  ")


@pytest.mark.parametrize(
    ("uri", "pushed"), [("push:webcam-1", True), ("push:", False), ("/v.mp4", False), ("", False)]
)
def test_is_pushed(uri: str, pushed: bool) -> None:
    assert is_pushed(uri) is pushed
