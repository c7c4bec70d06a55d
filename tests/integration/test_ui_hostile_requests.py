"""Hostile requests against a real dashboard (uvicorn, real Redis) configured as a fleet runs it: bound
beyond loopback (so the default source policy applies), login and API token on, a small upload limit.
Each is refused with a status and a reason that names the rule, and leaves nothing behind."""

from __future__ import annotations

import base64
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from services.common import registry
from services.ui.settings import UISettings
from tests.support.ui import exposed_settings, serve_ui

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests"
PASSWORD = "pw-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def ui(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data = tmp_path / "data"
    settings = exposed_settings(redis_url, data, PASSWORD, TOKEN)
    with serve_ui(settings, redis_client) as url:
        yield url, data


def post_camera(url: str, uri: str, name: str = "cam") -> httpx.Response:
    return httpx.post(f"{url}/api/cameras", json={"name": name, "uri": uri}, headers=BEARER, timeout=10)


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("/etc/passwd", "rule 'files'"),
        ("file:///etc/passwd", "rule 'files'"),
        ("{data}/../../../../etc/passwd", "rule 'files'"),  # traversal out of the data directory
        ("{data}/link.mp4", "rule 'files'"),  # a symlink in the data directory pointing out of it
        ("http://169.254.169.254/latest/meta-data", "link-local/metadata rule"),
        ("http://2852039166/latest/meta-data", "link-local/metadata rule"),  # 169.254.169.254 as a number
        ("http://[fe80::1]/", "link-local/metadata rule"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata rule"),
        ("http://0.0.0.0:6379/", "link-local/metadata rule"),
        ("gopher://10.0.0.1/", "rule 'schemes'"),
    ],
)
def test_ssrf_and_local_file_sources_are_refused_naming_the_rule(
    ui: tuple[str, Path], redis_client: redis.Redis, uri: str, rule: str
) -> None:
    url, data = ui
    data.mkdir(parents=True, exist_ok=True)
    (data / "link.mp4").unlink(missing_ok=True)
    (data / "link.mp4").symlink_to("/etc/passwd")
    answer = post_camera(url, uri.format(data=data))
    assert answer.status_code == 403, answer.text
    assert rule in answer.json()["detail"]
    assert registry.get(redis_client, "cam") is None, "a refused camera was registered"


def test_allowed_sources_still_register(ui: tuple[str, Path], redis_client: redis.Redis) -> None:
    url, data = ui
    (data / "clip.mp4").parent.mkdir(parents=True, exist_ok=True)
    (data / "clip.mp4").write_bytes(b"")
    for name, uri in [("a", str(data / "clip.mp4")), ("b", "rtsp://10.0.0.5/stream"), ("c", "0")]:
        answer = post_camera(url, uri, name)
        assert answer.status_code == 201, answer.text
    assert {c.camera_id for c in registry.all_cameras(redis_client)} >= {"a", "b", "c"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer forged"}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Basic " + base64.b64encode(b"emostream:forged").decode()}, 401),
        ({"Authorization": "Basic " + base64.b64encode(b"admin:" + PASSWORD.encode()).decode()}, 401),
        ({"Authorization": "Basic !!!not-base64"}, 401),
        ({"Authorization": "Digest username=emostream"}, 401),
        (BEARER, 200),
        ({"Authorization": "Basic " + base64.b64encode(b"emostream:" + PASSWORD.encode()).decode()}, 200),
    ],
)
def test_forged_auth_is_refused(ui: tuple[str, Path], headers: dict[str, str], status: int) -> None:
    url, _ = ui
    assert httpx.get(f"{url}/api/cameras", headers=headers, timeout=10).status_code == status
    assert httpx.get(f"{url}/healthz", timeout=10).status_code in (200, 503), "/healthz stays open"


def raw(url: str, head: bytes, body: bytes = b"", timeout_s: float = 10) -> tuple[int, bytes]:
    """Send raw bytes (what httpx would refuse to send) and read the answer's status and body."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < 12:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        sock.settimeout(1)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return int(answer.split(b" ", 2)[1]), answer


AUTH = f"Authorization: Bearer {TOKEN}\r\n".encode()


@pytest.mark.parametrize("path", [b"/api/cameras", b"/api/jobs"])
def test_an_oversized_body_is_refused_before_it_is_read(ui: tuple[str, Path], path: bytes) -> None:
    url, data = ui
    # only the headers go out: the answer must come without the server waiting for the 50 MB
    head = b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: 50000000\r\n"
    head += b"Content-Type: application/json\r\n\r\n"
    status, answer = raw(url, head)
    assert status == 413 and b"over the limit" in answer
    assert not list((data / "jobs").glob("*")) if (data / "jobs").exists() else True


def test_a_chunked_upload_over_the_limit_is_cut_off(ui: tuple[str, Path], redis_client: redis.Redis) -> None:
    url, data = ui
    boundary = b"xyz"
    part = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'
    body = part + b"\0" * (3 << 20)  # 3 MB against a 1 MB limit, with no Content-Length
    chunks = b"".join(
        b"%x\r\n" % len(body[i : i + 65536]) + body[i : i + 65536] + b"\r\n"
        for i in range(0, len(body), 65536)
    )
    head = b"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Transfer-Encoding: chunked\r\n"
    head += b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n"
    status, answer = raw(url, head, chunks + b"0\r\n\r\n")
    assert status == 413, answer[:300]
    assert httpx.get(f"{url}/api/jobs", headers=BEARER, timeout=10).json() == [], "a job was kept"


def test_a_bad_content_length_is_a_client_error(ui: tuple[str, Path]) -> None:
    url, _ = ui
    head = b"POST /api/cameras HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: abc\r\n\r\n"
    assert raw(url, head)[0] == 400


def test_non_utf8_names_and_traversal_are_refused(ui: tuple[str, Path], redis_client: redis.Redis) -> None:
    url, _ = ui
    status, _ = raw(url, b"GET /api/cameras/\xff\xfe HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n")
    assert status in (400, 404)
    status, _ = raw(url, b"GET /api/cameras/%FF%FE/history HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n")
    assert status == 404
    answer = httpx.get(f"{url}/api/jobs/x/files/..%2F..%2F..%2Fetc%2Fpasswd", headers=BEARER, timeout=10)
    assert answer.status_code == 404 and "root:" not in answer.text
    body = b'{"name": "\xff\xfe", "uri": "rtsp://10.0.0.5/s"}'  # not UTF-8: refused, nothing registered
    head = b"POST /api/cameras HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Type: application/json\r\n"
    status, answer_bytes = raw(url, head + b"Content-Length: %d\r\n\r\n" % len(body), body)
    assert status in (400, 422), answer_bytes[:300]
    assert registry.all_cameras(redis_client) == []
    answer = post_camera(url, "rtsp://10.0.0.5/s", name="../../etc")
    assert answer.status_code == 422 and "letters, digits" in answer.text
    # an upload whose file name is not UTF-8 (and not a video): refused, named, nothing kept
    boundary = b"b0"
    body = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="\xff\xfe.mp4"\r\n\r\n'
        b"not a video\r\n--" + boundary + b"--\r\n"
    )
    head = b"POST /api/jobs HTTP/1.1\r\nHost: x\r\n" + AUTH + b"Content-Length: %d\r\n" % len(body)
    head += b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n\r\n"
    status, answer = raw(url, head, body)
    assert status in (400, 415, 422), answer[:300]
    assert httpx.get(f"{url}/api/jobs", headers=BEARER, timeout=10).json() == []


def test_healthz_tells_an_anonymous_client_only_ok(ui: tuple[str, Path]) -> None:
    """Hosts, pids and service names are for a logged-in client; a health check gets ok / not ok."""
    url, _ = ui
    anonymous = httpx.get(f"{url}/healthz", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    forged = httpx.get(f"{url}/healthz", headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.json() == {"status": "ok"}
    detailed = httpx.get(f"{url}/healthz", headers=BEARER, timeout=10).json()
    assert detailed["status"] == "ok" and "services" in detailed and "cameras" in detailed


def test_default_upload_dir_is_private_and_new_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOSTREAM_DATA_DIR")  # the test session sets one for every test
    made = lambda: set(Path(tempfile.gettempdir()).glob("emostream-ui-*"))  # noqa: E731
    before = made()
    assert UISettings().data_dir is None  # as --check builds it: no directory until the app asks for one
    assert made() == before
    settings = UISettings()
    first, again, second = settings.work_dir, settings.work_dir, UISettings().work_dir
    try:
        assert first == again, "one run keeps one directory"
        assert first != second, "a fixed /tmp path is shared by every user of the machine"
        for path in (first, second):
            assert path.is_dir() and path.stat().st_mode & 0o077 == 0
    finally:
        first.rmdir()
        second.rmdir()
