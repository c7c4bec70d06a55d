"""HLS playlists and DASH manifests: how to tell one, and which URLs an HLS playlist names. Pure."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

#: the tags of an HLS playlist that name a URL in an attribute (keys, init sections, renditions, parts)
URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


def is_hls(content_type: str, head: bytes) -> bool:
    """Whether a response is an HLS playlist: its content type says so, or its body opens with the tag."""
    return "mpegurl" in content_type.lower() or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U")


def is_dash(content_type: str, head: bytes) -> bool:
    return "dash+xml" in content_type.lower() or b"<MPD" in head[:4096]


def playlist_urls(text: str, base_url: str) -> list[str]:
    """Every URL ``text`` (an HLS playlist fetched from ``base_url``) names: variant streams, segments,
    and the URIs of its tags, each made absolute; in order, each once (one that does not parse left out)."""
    urls: list[str] = []
    for line in (raw.strip() for raw in text.splitlines()):
        found = URI_ATTRIBUTE.findall(line) if line.startswith("#") else [line]
        for item in filter(None, (u.strip() for u in found)):
            try:
                url = urljoin(base_url, item)
                urlsplit(url)
            except ValueError:
                continue  # no client opens what does not parse
            urls.append(url)
    return list(dict.fromkeys(urls))
