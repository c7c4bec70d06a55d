"""Slow clients (slowloris) against the dashboard as ``python -m services.ui`` serves it: uvicorn with
the config of :mod:`services.ui.server`, on a real socket. A client that sends its headers or its body
a byte at a time is cut off within the deadline, while normal requests, WebSockets and long streams on
other connections go on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.sync.client import connect

from services.common import registry
from services.ui.settings import UISettings
from tests.support.ui import serve_ui
from tests.support.wait import free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 1.0
SLACK_S = 1.5  # the timer's tick, the test's own drip interval and a loaded CI machine
TOKEN = "t0ken-for-tests"


@pytest.fixture()
def ui(redis_client: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    settings = UISettings(
        redis_url=redis_url,
        port=free_port(),
        api_token=TOKEN,
        data_dir=tmp_path / "data",
        header_timeout_s=DEADLINE_S,
        body_timeout_s=DEADLINE_S,
        log_level="WARNING",
    )
    with serve_ui(settings, redis_client) as url:
        yield url, settings.port


def drip(port: int, head: bytes, slow: bytes, every_s: float = 0.2) -> tuple[float, bytes]:
    """Send ``head`` at once, then ``slow`` a byte every ``every_s`` until the server closes; returns
    (seconds from the first byte to the close, what the server said)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.settimeout(every_s)
        t0 = time.monotonic()
        sock.sendall(head)
        answer = b""
        for byte in slow:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            answer += chunk
            if not chunk:
                break
        return time.monotonic() - t0, answer


def healthy(url: str) -> bool:
    return httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_headers_a_byte_at_a_time_are_cut_off(ui: tuple[str, int]) -> None:
    url, port = ui
    result: list[tuple[float, bytes]] = []
    slow = threading.Thread(
        target=lambda: result.append(drip(port, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200))
    )
    slow.start()
    time.sleep(0.3)
    assert healthy(url), "a normal request waits behind the slow one"
    slow.join(30)
    took_s, answer = result[0]
    assert took_s < DEADLINE_S + SLACK_S, f"the slow head held its connection {took_s:.1f} s"
    assert answer.startswith(b"HTTP/1.1 408") and b"headers not received within 1 s" in answer, answer
    assert healthy(url)


def test_a_silent_connection_is_closed(ui: tuple[str, int]) -> None:
    _, port = ui
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        t0 = time.monotonic()
        assert sock.recv(100) == b""  # closed, nothing said: no request was begun
        assert time.monotonic() - t0 < DEADLINE_S + SLACK_S


def test_a_body_a_byte_at_a_time_gets_408(ui: tuple[str, int], redis_client: redis.Redis) -> None:
    url, port = ui
    body = b'{"name": "slow", "uri": "rtsp://10.0.0.5/s"}' + b" " * 200
    head = (
        b"POST /api/cameras HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    took_s, answer = drip(port, head, body)
    assert took_s < DEADLINE_S + SLACK_S, f"the slow body held its connection {took_s:.1f} s"
    assert answer.startswith(b"HTTP/1.1 408") and b"request body too slow" in answer, answer
    assert registry.get(redis_client, "slow") is None
    ok = httpx.post(
        f"{url}/api/cameras",
        json={"name": "fast", "uri": "rtsp://10.0.0.5/s"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert ok.status_code == 201, ok.text


def test_the_next_request_on_a_kept_alive_connection_has_its_own_deadline(ui: tuple[str, int]) -> None:
    _, port = ui
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    took_s, answer = drip(port, first + b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200)
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in answer, answer
    assert took_s < DEADLINE_S + SLACK_S


def test_a_huge_head_is_refused(ui: tuple[str, int]) -> None:
    _, port = ui
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")


def test_websockets_and_streams_outlive_the_head_deadline(
    ui: tuple[str, int], redis_client: redis.Redis
) -> None:
    url, _ = ui
    registry.add(redis_client, "door", "rtsp://10.0.0.5/s")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with connect(
        url.replace("http://", "ws://") + "/ws/frames", additional_headers=auth, open_timeout=5
    ) as ws:
        ws.recv(timeout=5)
        with httpx.stream("GET", f"{url}/video/door.mjpg", headers=auth, timeout=5) as video:
            assert video.status_code == 200
            time.sleep(DEADLINE_S + SLACK_S)
            registry.add(redis_client, "door2", "rtsp://10.0.0.5/t")  # a new tile arrives on the socket
            assert ws.recv(timeout=5)[1:6] == b"door2"
            assert next(video.iter_bytes())
