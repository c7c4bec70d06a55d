"""Camera passwords: masked in every text, split from the URI, sealed with the source key."""

from __future__ import annotations

import logging

import pytest

from services.common import credentials
from services.common.credentials import CredentialError, Sealer
from services.common.log import RedactPasswords


@pytest.mark.parametrize(
    ("uri", "masked", "password"),
    [
        ("rtsp://user:s3cret@cam.local/stream", "rtsp://user:***@cam.local/stream", "s3cret"),
        ("rtsp://user:p@ss@10.0.0.5:554/h264", "rtsp://user:***@10.0.0.5:554/h264", "p@ss"),
        ("http://admin:pw%2Fx@[fd00::5]:8080/mjpg", "http://admin:***@[fd00::5]:8080/mjpg", "pw%2Fx"),
        ("rtsp://cam.local:554/stream", "rtsp://cam.local:554/stream", ""),
        ("rtsp://user@cam.local/stream", "rtsp://user@cam.local/stream", ""),
        ("rtsp://user:***@cam.local/s", "rtsp://user:***@cam.local/s", ""),
        ("/videos/a.mp4", "/videos/a.mp4", ""),
        ("0", "0", ""),
    ],
)
def test_split_masks_the_password_and_join_puts_it_back(uri: str, masked: str, password: str) -> None:
    assert credentials.split(uri) == (masked, password)
    assert credentials.join(masked, password) == uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cannot open url 'rtsp://u:s3cret@h/s' (x)", "cannot open url 'rtsp://u:***@h/s' (x)"),
        ("a=http://a:1@h b=rtsps://b:2@k/p", "a=http://a:***@h b=rtsps://b:***@k/p"),
        ("http://host:8080/path?a=b@c", "http://host:8080/path?a=b@c"),
        ("no url here: user:pw@host", "no url here: user:pw@host"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert credentials.redact(text) == expected


def test_sealed_password_opens_with_its_key_only() -> None:
    sealer = Sealer(credentials.new_key())
    sealed = sealer.seal("s3cret")
    assert "s3cret" not in sealed
    assert sealer.open(sealed) == "s3cret"
    with pytest.raises(CredentialError, match="another EMOSTREAM_SOURCE_KEY"):
        Sealer(credentials.new_key()).open(sealed)
    with pytest.raises(CredentialError, match="not a valid key"):
        Sealer("short")


def test_log_filter_masks_arguments_of_any_type() -> None:
    record = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "camera failed uri=%s error=%r",
        ("rtsp://u:pw1@h/s", OSError("rtsp://u:pw2@h")),
        None,
    )
    RedactPasswords().filter(record)
    message = record.getMessage()
    assert "pw1" not in message and "pw2" not in message
    assert "rtsp://u:***@h/s" in message
