"""A real MJPEG-over-HTTP camera that goes away for 10 s and comes back, beside a camera that never fails.

The camera is a small HTTP server in the test (``multipart/x-mixed-replace`` JPEG frames at 10 fps, as
IP cameras serve them); the real ingest service loop reads it through OpenCV, over a real Redis.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from services.common import keys, registry
from services.ingest.service import Ingest
from services.ingest.settings import IngestSettings
from tests.conftest import free_port

pytestmark = pytest.mark.integration


class MjpegCamera:
    """Serves ``/video.mjpg`` on ``port`` until :meth:`stop`; :meth:`start` again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ThreadingHTTPServer | None = None
        self.alive = threading.Event()

    def start(self) -> None:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 -- the http.server hook
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                while camera.alive.is_set():
                    img = np.full((240, 320, 3), (i * 7) % 255, np.uint8)
                    cv2.putText(img, str(i), (20, 120), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
                    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
                    try:
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(jpeg)).encode()
                            + b"\r\n\r\n"
                            + jpeg
                            + b"\r\n"
                        )
                    except OSError:
                        return
                    i += 1
                    time.sleep(0.1)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.alive.set()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.alive.clear()  # open streams end: the client sees the connection close
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def refuses(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) != 0


def frames(client: redis.Redis, cam: str) -> int:
    return registry.get(client, cam).frames  # type: ignore[union-attr]


def wait(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s")
        time.sleep(0.2)


def test_a_camera_outage_is_shown_and_heals_by_itself(
    redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    port = free_port()
    camera = MjpegCamera(port)
    camera.start()
    registry.add(redis_client, "ipcam", f"http://127.0.0.1:{port}/video.mjpg", mode="live")
    registry.add(redis_client, "steady", str(sample_media / "single_face.mp4"), mode="live", loop=True)
    ingest = Ingest(IngestSettings(redis_url=redis_url, live_fps_cap=10), client=redis_client)
    thread = threading.Thread(target=ingest.run, daemon=True)
    thread.start()
    try:
        wait(lambda: frames(redis_client, "ipcam") > 5, 30, "the camera publishes")
        camera.stop()
        assert camera.refuses()
        wait(lambda: registry.get(redis_client, "ipcam").status == "error", 15, "the outage shows")  # type: ignore[union-attr]
        error = registry.get(redis_client, "ipcam").error  # type: ignore[union-attr]
        assert error, "the tile needs a reason"
        steady_before = frames(redis_client, "steady")
        time.sleep(10 - 1)  # the camera stays away for about 10 s
        assert frames(redis_client, "steady") > steady_before + 20, "the other camera noticed the outage"
        camera.start()
        down_at = frames(redis_client, "ipcam")
        wait(
            lambda: (
                registry.get(redis_client, "ipcam").status == "running"  # type: ignore[union-attr]
                and frames(redis_client, "ipcam") > down_at + 5
            ),
            40,
            "the camera reconnects by itself",
        )
        newest = redis_client.xrevrange(keys.stream("frames", "ipcam"), count=1)
        assert newest, "frames flow again"
        assert thread.is_alive()
    finally:
        ingest.stop.set()
        camera.stop()
        thread.join(10)
