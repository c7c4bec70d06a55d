"""HLS playlists: told apart from video, and every URL they name found (pure)."""

from __future__ import annotations

import pytest

from services.ingest.playlist import is_dash, is_hls, playlist_urls

MASTER = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",URI="audio/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000
low/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=9000
http://198.18.0.9/high.m3u8
"""
MEDIA = """#EXTM3U
#EXT-X-KEY:METHOD=AES-128,URI="https://198.18.0.10/key"
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2,
seg0.ts
#EXTINF:2,
/abs/seg1.ts
#EXTINF:2,
seg0.ts
#EXTINF:2,
http://[198.18.0.7
"""


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        (
            MASTER,
            [
                "http://cam/live/audio/index.m3u8",
                "http://cam/live/low/index.m3u8",
                "http://198.18.0.9/high.m3u8",
            ],
        ),
        (
            MEDIA,
            [
                "https://198.18.0.10/key",
                "http://cam/live/init.mp4",
                "http://cam/live/seg0.ts",
                "http://cam/abs/seg1.ts",
            ],
        ),
    ],
)
def test_playlist_urls_are_every_url_named_made_absolute(text: str, urls: list[str]) -> None:
    assert playlist_urls(text, "http://cam/live/index.m3u8") == urls


@pytest.mark.parametrize(
    ("content_type", "head", "hls", "dash"),
    [
        ("application/vnd.apple.mpegurl", b"", True, False),
        ("audio/x-mpegURL", b"", True, False),
        ("text/plain", b"\xef\xbb\xbf\n#EXTM3U\n", True, False),
        ("application/dash+xml", b"", False, True),
        ("text/xml", b'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">', False, True),
        ("multipart/x-mixed-replace; boundary=frame", b"--frame\r\nContent-Type: image/jpeg", False, False),
        ("video/mp2t", b"\x47\x40\x00\x10", False, False),
    ],
)
def test_a_playlist_is_told_by_its_type_or_its_first_line(
    content_type: str, head: bytes, hls: bool, dash: bool
) -> None:
    assert is_hls(content_type, head) is hls
    assert is_dash(content_type, head) is dash
