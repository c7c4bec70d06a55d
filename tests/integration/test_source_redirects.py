"""Redirects and playlists stay inside the source policy, against real HTTP servers on this machine.

The allowed camera host is 127.0.0.1 (``hosts=127.0.0.1/32``); the denied host is 127.0.0.2, another
loopback address, so no packet leaves the machine and the denied server counts every request that reaches
it. Left to FFmpeg, a 302 to it and a playlist whose segments are on it are both fetched from it.
"""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from services.common import registry
from services.common.source_policy import SourcePolicy, SourceRefused
from services.common.sources import SourceError, SourceSpec
from services.ingest.source import FrameSource
from tests.support.cameras import cameras, frames_flow, settle
from tests.support.http import HttpServer, QuietHandler
from tests.support.ui import run_ingest

pytestmark = pytest.mark.integration

RULE = "hosts=127.0.0.1/32"
POLICY = SourcePolicy.parse(RULE, "0.0.0.0", [])


def jpegs() -> list[bytes]:
    frames = []
    for i in range(4):
        img = np.full((120, 160, 3), 40 * i, np.uint8)
        cv2.putText(img, str(i), (50, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        frames.append(cv2.imencode(".jpg", img)[1].tobytes())
    return frames


@dataclass
class Server:
    """One HTTP server: an MJPEG camera at /cam.mjpg, and the hostile answers below."""

    address: str
    other: str = ""  # base URL of the other server (the denied one, for the allowed server)
    hits: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # Host headers of /cam.mjpg requests
    alive: threading.Event = field(default_factory=threading.Event)
    httpd: HttpServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return self.httpd.url

    def routes(self) -> dict[str, tuple[int, dict[str, str], bytes]]:
        playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        hls = {"Content-Type": "application/vnd.apple.mpegurl"}
        return {
            "/to-denied": (302, {"Location": f"{self.other}/cam.mjpg"}, b""),
            "/to-allowed": (302, {"Location": "/cam.mjpg"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
            "/to-garbage": (302, {"Location": "http://[198.18.0.7"}, b""),
            "/live.m3u8": (200, hls, f"{playlist}#EXTINF:2,\n{self.other}/seg0.ts\n".encode()),
            "/master.m3u8": (
                200,
                {"Content-Type": "text/plain"},  # the body alone says what it is
                f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n{self.other}/live.m3u8\n".encode(),
            ),
            "/inside.m3u8": (200, hls, f"{playlist}#EXTINF:2,\nseg0.ts\n#EXT-X-ENDLIST\n".encode()),
        }

    def start(self, tls: ssl.SSLContext | None = None) -> None:
        server, frames = self, jpegs()

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 -- the http.server hook
                server.hits.append(self.path)
                if self.path == "/cam.mjpg":
                    server.hosts.append(self.headers.get("Host", ""))
                    return self.mjpeg()
                if self.path == "/private.mjpg":  # a camera with a Digest login
                    answer = self.headers.get("Authorization", "")
                    if (
                        answer.startswith("Digest ")
                        and 'username="viewer"' in answer
                        and 'nonce="n1"' in answer
                    ):
                        return self.mjpeg()
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Digest realm="cam", qop="auth", nonce="n1"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                status, headers, body = server.routes().get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in (headers | {"Content-Length": str(len(body))}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def mjpeg(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                while server.alive.is_set():
                    jpeg = frames[i % len(frames)]
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    try:
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                    except OSError:
                        return
                    i += 1
                    time.sleep(0.05)

        self.alive.set()
        self.httpd = HttpServer(Handler, self.address, tls=tls).start()

    def stop(self) -> None:
        self.alive.clear()
        if self.httpd is not None:
            self.httpd.stop()


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Server, Server]]:
    denied = Server("127.0.0.2")
    denied.start()
    allowed = Server("127.0.0.1", other=denied.url)
    allowed.start()
    yield allowed, denied
    allowed.stop()
    denied.stop()


@pytest.fixture
def servers(running: tuple[Server, Server]) -> tuple[Server, Server]:
    """The two servers, with no request counted yet."""
    for server in running:
        server.hits.clear()
        server.hosts.clear()
    return running


def read_frames(source: FrameSource, count: int) -> int:
    got = 0
    for _ in range(count):
        frame = source.read()
        assert frame is not None and frame.shape[:2] == (120, 160)
        got += 1
    return got


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/cam.mjpg", None),
        ("/private.mjpg", None),  # the login goes along (see the spec below)
        ("/to-allowed", None),  # a redirect inside the policy is followed
        (
            "/to-denied",
            r"rule 'hosts': 127\.0\.0\.2 is not in 127\.0\.0\.1/32 \(where .*/to-denied redirects\)",
        ),
        ("/live.m3u8", r"rule 'hosts': 127\.0\.0\.2 .*named by the HLS playlist at .*/live\.m3u8"),
        ("/master.m3u8", r"rule 'hosts': 127\.0\.0\.2 .*named by the HLS playlist"),
        ("/inside.m3u8", r"EMOSTREAM_SOURCE_ALLOW: .* is an HLS playlist .* plays none"),
        ("/to-file", r"redirect rule: .* may lead to http\(s\) only"),
        ("/to-garbage", r"redirect rule: .* redirects to http://\[198\.18\.0\.7"),
        ("/loop", "redirects more than 5 times"),
    ],
)
def test_redirects_and_playlists_stay_inside_the_policy(
    servers: tuple[Server, Server], path: str, refused: str | None
) -> None:
    allowed, denied = servers
    spec = SourceSpec("url", allowed.url.replace("//", "//viewer:pw@") + path)
    if refused is None:
        source = FrameSource(spec, POLICY)
        try:
            assert read_frames(source, 5) == 5
        finally:
            source.close()
    else:
        with pytest.raises(SourceError, match=refused) as caught:
            FrameSource(spec, POLICY)
        assert isinstance(caught.value, SourceRefused) or "redirects more than" in str(caught.value)
    assert denied.hits == [], "a request reached the denied host"


def test_a_name_is_resolved_once_connected_to_as_checked_and_keeps_its_host_header(
    servers: tuple[Server, Server],
) -> None:
    allowed, denied = servers
    port = allowed.url.rsplit(":", 1)[1]
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])  # the name rebinds to the denied host after one look-up

    source = FrameSource(
        SourceSpec("url", f"http://cam.test:{port}/cam.mjpg"), POLICY, lambda _h: next(answers)
    )
    try:
        read_frames(source, 2)
    finally:
        source.close()
    assert allowed.hosts == [f"cam.test:{port}"]
    with pytest.raises(SourceRefused, match=r"rule 'hosts': cam\.test is not in"):
        FrameSource(SourceSpec("url", f"http://cam.test:{port}/cam.mjpg"), POLICY, lambda _h: next(answers))
    assert denied.hits == []


def self_signed(tmp: Path, name: str) -> ssl.SSLContext:
    """A TLS server context with a certificate for ``name``, made here (as a camera's own)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = x509.CertificateBuilder(
        issuer_name=subject,
        subject_name=subject,
        public_key=key.public_key(),
        serial_number=x509.random_serial_number(),
        not_valid_before=now,
        not_valid_after=now + datetime.timedelta(days=1),
    ).sign(key, hashes.SHA256())
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


def test_https_goes_to_the_checked_address_with_the_name_as_sni(tmp_path: Path) -> None:
    names: list[str | None] = []
    context = self_signed(tmp_path, "cam.test")
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    camera = Server("127.0.0.1")
    camera.start(tls=context)
    assert camera.httpd is not None
    port = camera.httpd.port
    try:
        source = FrameSource(
            SourceSpec("url", f"https://cam.test:{port}/cam.mjpg"), POLICY, lambda _h: ["127.0.0.1"]
        )
        try:
            read_frames(source, 2)
        finally:
            source.close()
    finally:
        camera.stop()
    assert names == ["cam.test"] and camera.hosts == [f"cam.test:{port}"]


def test_ingest_refuses_them_per_camera_and_the_good_camera_goes_on(
    servers: tuple[Server, Server], redis_client: redis.Redis, redis_url: str
) -> None:
    allowed, denied = servers
    paths = {"good": "/cam.mjpg", "redirected": "/to-denied", "playlist": "/live.m3u8"}
    for name, path in paths.items():
        registry.add(redis_client, name, allowed.url + path, mode="live")
    with run_ingest(redis_url, source_allow=RULE, host="0.0.0.0", live_fps_cap=20):
        settle(
            redis_client,
            lambda cams: (
                cams["good"].status == "running"
                and all(cams[n].status == "error" for n in ("redirected", "playlist"))
            ),
        )
        flowing = frames_flow(redis_client, "good")
        cams = cameras(redis_client)
    report = {n: (c.status, c.error) for n, c in cams.items()}
    assert "rule 'hosts'" in cams["redirected"].error and "redirects" in cams["redirected"].error, report
    assert "rule 'hosts'" in cams["playlist"].error and "HLS playlist" in cams["playlist"].error, report
    assert cams["good"].status == "running" and flowing, f"the good camera stopped: {report}"
    assert denied.hits == [], "a request reached the denied host"
