"""Real network cameras that go away for 10 s and come back, beside a camera that never fails.

Two kinds of camera, each a real server: an MJPEG-over-HTTP camera (a small HTTP server in the test,
``multipart/x-mixed-replace`` JPEG frames at 10 fps, as IP cameras serve them) and an RTSP camera
(GStreamer's RTSP server in its own process, playing the frames of a sample video in a loop, killed with
SIGKILL for the outage). The real ingest service loop reads both through OpenCV, over a real Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pytest
import redis

from services.common import keys, registry
from services.ingest.service import Ingest
from services.ingest.settings import IngestSettings
from tests.support.http import HttpServer, QuietHandler
from tests.support.wait import free_port, wait_for

pytestmark = pytest.mark.integration


ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"


class NetworkCamera(Protocol):
    port: int
    uri: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


def refuses(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class MjpegCamera:
    """Serves ``/video.mjpg`` on ``port`` until :meth:`stop`; :meth:`start` again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.uri = f"http://127.0.0.1:{port}/video.mjpg"
        self.server: HttpServer | None = None
        self.alive = threading.Event()

    def start(self) -> None:
        camera = self

        class Handler(QuietHandler):
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

        self.alive.set()
        self.server = HttpServer(Handler, port=self.port).start()

    def stop(self) -> None:
        self.alive.clear()  # open streams end: the client sees the connection close
        if self.server is not None:
            self.server.stop()


def rtsp_server_missing() -> str:
    """Why GStreamer's RTSP server cannot run here, or "" when it can."""
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return (
            "GStreamer's RTSP server is not installed (Debian: gstreamer1.0-rtsp "
            "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi)"
        )
    return ""


class RtspCamera:
    """GStreamer's RTSP server (``tests/support/rtsp_server.py``) on ``port``, playing ``frames_dir``.

    :meth:`stop` SIGKILLs it, as a camera that loses power; :meth:`start` brings it back on the port."""

    def __init__(self, port: int, frames_dir: Path) -> None:
        self.port = port
        self.frames_dir = frames_dir
        self.uri = f"rtsp://127.0.0.1:{port}/cam"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(ROOT / "tests/support/rtsp_server.py"), str(self.port), str(self.frames_dir)],
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"the RTSP server did not start: {line!r}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


def sample_frames(video: Path, out: Path, count: int = 60) -> Path:
    """The first ``count`` frames of ``video`` as ``00000.jpg``, ... in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cap = cv2.VideoCapture(str(video))
    for i in range(count):
        ok, frame = cap.read()
        if not ok:
            break
        cv2.imwrite(str(out / f"{i:05d}.jpg"), frame)
    cap.release()
    assert any(out.iterdir()), f"no frames decoded from {video}"
    return out


@pytest.fixture()
def rtsp_camera(tmp_path: Path, sample_media: Path) -> Iterator[RtspCamera]:
    missing = rtsp_server_missing()
    if missing:
        if os.environ.get("EMOSTREAM_REQUIRE_RTSP"):
            pytest.fail(missing)
        pytest.skip(missing)
    camera = RtspCamera(free_port(), sample_frames(sample_media / "single_face.mp4", tmp_path / "frames"))
    yield camera
    camera.stop()


@pytest.fixture()
def mjpeg_camera() -> Iterator[MjpegCamera]:
    camera = MjpegCamera(free_port())
    yield camera
    camera.stop()


def frames(client: redis.Redis, cam: str) -> int:
    return registry.get(client, cam).frames  # type: ignore[union-attr]


def status(client: redis.Redis, cam: str) -> str:
    return registry.get(client, cam).status  # type: ignore[union-attr]


def outage_is_shown_and_heals(
    camera: NetworkCamera, redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    camera.start()
    registry.add(redis_client, "ipcam", camera.uri, mode="live")
    registry.add(redis_client, "steady", str(sample_media / "single_face.mp4"), mode="live", loop=True)
    ingest = Ingest(IngestSettings(redis_url=redis_url, live_fps_cap=10), client=redis_client)
    thread = threading.Thread(target=ingest.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: frames(redis_client, "ipcam") > 5, 30, "the camera publishes")
        camera.stop()
        assert refuses(camera.port)
        wait_for(lambda: status(redis_client, "ipcam") == "error", 20, "the outage shows")
        error = registry.get(redis_client, "ipcam").error  # type: ignore[union-attr]
        assert error, "the tile needs a reason"
        steady_before = frames(redis_client, "steady")
        time.sleep(10 - 1)  # the camera stays away for about 10 s
        assert frames(redis_client, "steady") > steady_before + 20, "the other camera noticed the outage"
        camera.start()
        down_at = frames(redis_client, "ipcam")
        wait_for(
            lambda: (
                status(redis_client, "ipcam") == "running" and frames(redis_client, "ipcam") > down_at + 5
            ),
            40,
            "the camera reconnects by itself",
        )
        newest = redis_client.xrevrange(keys.stream("frames", "ipcam"), count=1)
        assert newest, "frames flow again"
        assert thread.is_alive()
    finally:
        ingest.stop.set()
        thread.join(10)


def test_an_mjpeg_camera_outage_is_shown_and_heals_by_itself(
    mjpeg_camera: MjpegCamera, redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    outage_is_shown_and_heals(mjpeg_camera, redis_client, redis_url, sample_media)


def test_an_rtsp_camera_outage_is_shown_and_heals_by_itself(
    rtsp_camera: RtspCamera, redis_client: redis.Redis, redis_url: str, sample_media: Path
) -> None:
    outage_is_shown_and_heals(rtsp_camera, redis_client, redis_url, sample_media)
