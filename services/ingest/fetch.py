"""HTTP(S) camera sources under a source policy: ingest fetches them itself, so every connection stays
inside the policy (:mod:`common.source_policy`).

Left to itself, FFmpeg follows any redirect and opens every segment an HLS playlist names, wherever they
point; the policy saw only the first URL. So, on a policy other than ``any``, ingest:

- resolves each URL's host once, checks every address, and connects to a checked one
  (:mod:`services.ingest.pinned_http`): a name that resolves elsewhere later meets the same rules;
- follows redirects itself, at most :data:`MAX_REDIRECTS`, each ``Location`` checked before it is
  connected to; only to http(s), and the camera's login goes to the first origin alone;
- refuses an HLS playlist or a DASH manifest, naming the rule its first URL outside the policy breaks,
  or, when all are inside, saying that no playlist is played under source rules (FFmpeg would fetch its
  segments, and a live playlist's later reloads, outside the policy);
- hands FFmpeg the body through a pipe (:mod:`services.ingest.relay`): FFmpeg reads ``pipe:N``, never a
  URL, and what it opens from inside a pipe is limited to the ``crypto,data`` protocols, so nothing in the
  body (a playlist that slipped past, an SDP or concat file) opens a connection.

What that costs: an HTTP source plays as a stream, so a container that needs seeking (an MP4 whose index
sits at its end) does not play under source rules; MJPEG, MPEG-TS, FLV and fragmented or faststart MP4
do. HLS plays only under ``any``. RTSP and the other URL schemes are pinned to a checked address, but
FFmpeg still speaks those protocols itself: an RTSP server on an allowed address can answer with a 3xx
redirect, which FFmpeg follows (it has no option to refuse it); with UDP transport (not the default),
the server's ``source=`` steers where RTCP goes. Interleaved TCP, OpenCV's default, keeps media on the
one checked connection.
"""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urljoin, urlsplit, urlunsplit

from services.common.addresses import IPAddress, canonical, resolve
from services.common.source_policy import Resolver, SourcePolicy, SourceRefused, url_parts
from services.common.sources import SourceError
from services.ingest.http_auth import authorization
from services.ingest.pinned_http import PinnedConnection
from services.ingest.playlist import is_dash, is_hls, playlist_urls

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
TIMEOUT_S = 30.0  # connect and each read; OpenCV's own open and read timeouts are 30 s
HEAD_BYTES = 64 * 1024
PLAYLIST_BYTES = 1024 * 1024
MAX_PLAYLIST_HOSTS = 32  # distinct hosts of a playlist that are checked (each is a DNS lookup)
USER_AGENT = "emostream-ingest"


@dataclass
class Fetched:
    """A 200 response whose body is a stream to decode: ``head`` (its first bytes) was read already."""

    url: str  # the final URL, after redirects
    connection: PinnedConnection
    response: http.client.HTTPResponse
    head: bytes

    def close(self) -> None:
        self.connection.shutdown()
        self.response.close()
        self.connection.close()


def shown(url: str) -> str:
    """``url`` without its user and password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:200]
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))[:300]


def fetch(
    url: str, policy: SourcePolicy, resolver: Resolver = resolve, timeout_s: float = TIMEOUT_S
) -> Fetched:
    """GET ``url`` inside ``policy``, following its redirects (see the module docstring).

    Raises :class:`SourceRefused` naming the rule for a URL, redirect or playlist outside the policy, and
    :class:`SourceError` for anything else that fails (no answer, an HTTP error, too many redirects)."""
    first, _ = url_parts(url)  # refuses a URL that does not parse
    login = (unquote(first.username), unquote(first.password or "")) if first.username else None
    current, previous = url, ""
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        same_origin = (parts.scheme, parts.netloc.rpartition("@")[2]) == (
            first.scheme,
            first.netloc.rpartition("@")[2],
        )
        try:
            connection, response = request(
                current, policy, resolver, login if same_origin else None, timeout_s
            )
        except SourceRefused as exc:
            if not previous:
                raise
            raise SourceRefused(f"{exc} (where {shown(previous)} redirects)") from None
        if response.status not in REDIRECTS:
            return body(current, connection, response, policy, resolver)
        location = (response.getheader("Location") or "").strip()
        connection.close()
        if not location:
            raise SourceError(f"{shown(current)} answered HTTP {response.status} without a Location")
        try:
            target = urljoin(current, location)
            scheme = urlsplit(target).scheme.lower()
        except ValueError:
            target, scheme = location, ""
        if scheme not in ("http", "https"):
            raise SourceRefused(
                f"refused by the redirect rule: {shown(current)} redirects to {shown(target)}, and a "
                "redirect may lead to http(s) only"
            )
        log.info("redirect from=%s to=%s", shown(current), shown(target))
        current, previous = target, current
    raise SourceError(f"{shown(url)} redirects more than {MAX_REDIRECTS} times")


def request(
    url: str,
    policy: SourcePolicy,
    resolver: Resolver,
    login: tuple[str, str] | None,
    timeout_s: float,
) -> tuple[PinnedConnection, http.client.HTTPResponse]:
    """One GET of ``url`` on a connection to a checked address; after a 401, once more with ``login``."""
    addresses = policy.check_url(url, resolver)  # raises SourceRefused, naming the rule
    parts, host = url_parts(url)
    if not addresses:
        raise SourceError(f"cannot open {shown(url)}: {host} does not resolve")
    target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    connection, response = connect(parts, addresses, target, headers, timeout_s)
    if response.status == 401 and login is not None:
        challenges = response.headers.get_all("WWW-Authenticate") or []
        answer = authorization(challenges, "GET", target, *login)
        connection.close()
        if answer is None:
            raise SourceError(f"cannot log in to {shown(url)}: no Basic or Digest challenge")
        connection, response = connect(
            parts, addresses, target, headers | {"Authorization": answer}, timeout_s
        )
    return connection, response


def connect(
    parts: SplitResult,
    addresses: list[IPAddress],
    target: str,
    headers: dict[str, str],
    timeout_s: float,
) -> tuple[PinnedConnection, http.client.HTTPResponse]:
    """GET ``target`` from the first of ``addresses`` that takes the connection; raises SourceError."""
    error: Exception | None = None
    for ip in addresses:
        connection = PinnedConnection(
            parts.hostname or "", parts.port, canonical(ip), timeout_s, parts.scheme.lower() == "https"
        )
        try:
            connection.request("GET", target, headers=headers)
            return connection, connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            error = exc
    raise SourceError(f"cannot open {shown(parts.geturl())}: {error}")


def body(
    url: str,
    connection: PinnedConnection,
    response: http.client.HTTPResponse,
    policy: SourcePolicy,
    resolver: Resolver,
) -> Fetched:
    """The stream of a final response; refuses an HTTP error, a playlist or a manifest."""
    if response.status != 200:
        connection.close()
        raise SourceError(f"cannot open {shown(url)}: HTTP {response.status} {response.reason}")
    content_type = response.getheader("Content-Type") or ""
    try:
        head = response.read1(HEAD_BYTES)
        hls = is_hls(content_type, head)
        text = (head + response.read(PLAYLIST_BYTES)).decode("utf-8", "replace") if hls else ""
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise SourceError(f"cannot read {shown(url)}: {exc}") from None
    if hls or is_dash(content_type, head):
        connection.close()
        if hls:
            check_playlist(url, text, policy, resolver)
        raise SourceRefused(
            f"refused by EMOSTREAM_SOURCE_ALLOW: {shown(url)} is an HLS playlist or DASH manifest, and under "
            "source rules ingest plays none (FFmpeg would fetch its segments outside the policy); give "
            "the camera's RTSP or MJPEG URL, or set EMOSTREAM_SOURCE_ALLOW=any where all users are trusted"
        )
    return Fetched(url, connection, response, head)


def check_playlist(url: str, text: str, policy: SourcePolicy, resolver: Resolver) -> None:
    """Raise :class:`SourceRefused` naming the rule that the first URL of the playlist outside the policy
    breaks (one check per scheme and host, for the first :data:`MAX_PLAYLIST_HOSTS` of them)."""
    seen: set[tuple[str, str]] = set()
    for item in playlist_urls(text, url):
        parts = urlsplit(item)  # parses: playlist_urls made it
        key = (parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower())
        if key in seen:
            continue
        if len(seen) == MAX_PLAYLIST_HOSTS:
            return
        seen.add(key)
        try:
            policy.check_url(item, resolver)
        except SourceRefused as exc:
            raise SourceRefused(f"{exc} (named by the HLS playlist at {shown(url)}: {shown(item)})") from None
