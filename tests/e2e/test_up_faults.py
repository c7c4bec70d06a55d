"""Faults of the whole stack, as a user meets them: real ``emostream up`` / ``analyze`` processes.

- the embedded redis-server is SIGKILLed: it comes back on the same port with the cameras, the one added
  at run time included, and they produce frames again;
- the UI is SIGKILLed mid-job: the supervisor restarts it and the same job id finishes;
- SIGTERM or SIGINT at any moment, start-up included, leaves no process behind, the embedded Redis
  included, and an interrupted ``analyze`` says so and exits non-zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import pytest

from tests.e2e.test_chaos import chaos_clip
from tests.e2e.test_up import alive, get_json
from tests.support.wait import free_port, wait_for

pytestmark = [pytest.mark.e2e]

T = TypeVar("T")


def is_redis_in(proc: Path, data_dir: Path) -> bool:
    """A redis-server working in ``data_dir`` (it chdirs to its ``--dir``; its title hides the arguments);
    ``data_dir`` may be a prefix of the directory's path."""
    try:
        return b"redis-server" in (proc / "cmdline").read_bytes() and str(data_dir) in os.readlink(
            proc / "cwd"
        )
    except OSError:
        return False


def stack_processes(parent_pid: int, data_dir: Path) -> list[int]:
    """Every live process started for the ``emostream`` process ``parent_pid``: its services (their
    ``EMOSTREAM_PARENT_PID``) and its embedded redis-server (working in ``data_dir``)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = f"EMOSTREAM_PARENT_PID={parent_pid}".encode() in environ or is_redis_in(proc, data_dir)
        if ours and alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def wait_until_gone(parent_pid: int, data_dir: Path, timeout_s: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := stack_processes(parent_pid, data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def looped(video: Path, out: Path, times: int) -> Path:
    """``video`` played ``times`` times over, as one MP4 at ``out``."""
    frames = []
    cap = cv2.VideoCapture(str(video))
    while (read := cap.read())[0]:
        frames.append(read[1])
    cap.release()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), 25, (w, h))
    for _ in range(times):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return out


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EMOSTREAM_REDIS_URL"}
    env["EMOSTREAM_DATA_DIR"] = str(tmp_path / "data")
    env["EMOSTREAM_LIVE_MAX_AGE_MS"] = "8000"  # a loaded 2-core machine runs MTCNN slowly
    return env


def start_up(tmp_path: Path, port: int, source: Path) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115 -- the child writes to it while it runs
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--port", str(port), "--source", f"cam1={source}"],
        env=env_for(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def cameras(port: int) -> dict[str, dict[str, object]]:
    found = get_json(f"http://127.0.0.1:{port}/api/cameras")
    assert isinstance(found, list)
    return {c["name"]: c for c in found}


def answered(predicate: Callable[[], T]) -> Callable[[], T | None]:
    """``predicate``, with an OSError (the UI or Redis restarting: keep asking) taken for "not yet"."""

    def ask() -> T | None:
        try:
            return predicate()
        except OSError:
            return None

    return ask


def redis_pid(data_dir: Path) -> int:
    """The pid of the redis-server working in ``data_dir``; 0 while there is none."""
    for proc in Path("/proc").glob("[0-9]*"):
        if is_redis_in(proc, data_dir) and alive(int(proc.name)):
            return int(proc.name)
    return 0


def service_pid(parent_pid: int, service: str) -> int:
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = f"EMOSTREAM_PARENT_PID={parent_pid}".encode() in environ and any(
            e.startswith(b"EMOSTREAM_INSTANCE=") and f"-{service}-".encode() in e for e in environ
        )
        if ours and alive(int(proc.name)):
            return int(proc.name)
    raise AssertionError(f"no {service} process of {parent_pid}")


def upload(port: int, video: Path) -> str:
    boundary = "emostreamtestboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{video.name}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + video.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/jobs",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return str(json.loads(reply.read())["id"])


@dataclass(frozen=True)
class Up:
    """A running ``emostream up``: its process, its UI's port and its data directory."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path


@pytest.fixture(scope="module")
def running_up(sample_media: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """One ``emostream up`` for the module's fault tests; each test leaves it as it found it."""
    home = tmp_path_factory.mktemp("up")
    port = free_port()
    proc = start_up(home, port, sample_media / "single_face.mp4")
    try:
        yield Up(proc, port, home / "data")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        assert not wait_until_gone(proc.pid, home / "data"), "processes left behind"


@pytest.fixture()
def up(running_up: Up) -> Up:
    """The module's stack, with cam1 running (again, after whatever the test before it killed)."""
    assert running_up.proc.poll() is None, "emostream up has exited"
    wait_for(
        answered(lambda: cameras(running_up.port).get("cam1", {}).get("status") == "running"),
        240,
        "cam1 running",
    )
    return running_up


def test_killed_redis_comes_back_with_every_camera(up: Up, sample_media: Path) -> None:
    proc, port = up.proc, up.port
    added = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/cameras",
        data=json.dumps({"name": "added", "uri": str(sample_media / "WolfgangLanger_Pexels.mp4")}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(added, timeout=10) as reply:
        assert reply.status == 201
    wait_for(
        answered(lambda: cameras(port).get("added", {}).get("status") == "running"),
        120,
        "added camera running",
    )
    data_dir = up.data_dir / "redis"
    old_pid = redis_pid(data_dir)
    assert old_pid, f"no redis-server in {data_dir}"
    os.kill(old_pid, signal.SIGKILL)
    wait_for(answered(lambda: redis_pid(data_dir) not in (0, old_pid)), 30, "redis-server restarted")
    seen: dict[str, dict[str, object]] = {}
    # 503 meanwhile
    wait_for(answered(lambda: seen.update(cameras(port)) or seen), 60, "the cameras listed again")
    frames_at_restart = {name: int(c["frames"]) for name, c in seen.items()}  # type: ignore[call-overload]
    assert set(frames_at_restart) >= {"cam1", "added"}, "a camera was lost with Redis"
    wait_for(
        answered(
            lambda: all(
                int(c["frames"]) > frames_at_restart.get(name, 0) and c["status"] == "running"  # type: ignore[call-overload]
                for name, c in cameras(port).items()
                if name in ("cam1", "added")
            )
        ),
        120,
        "both cameras producing frames again",
    )
    assert proc.poll() is None
    removed = urllib.request.Request(f"http://127.0.0.1:{port}/api/cameras/added", method="DELETE")
    with urllib.request.urlopen(removed, timeout=10) as reply:
        assert reply.status == 204  # the module's stack goes on with cam1 alone


def test_killed_ui_comes_back_and_the_job_finishes(up: Up, sample_media: Path, tmp_path: Path) -> None:
    proc, port = up.proc, up.port
    video = chaos_clip(sample_media, tmp_path / "clip")
    job_id = upload(port, video)
    wait_for(
        answered(lambda: int(get_json(f"http://127.0.0.1:{port}/api/jobs/{job_id}")["frames_done"]) > 10),  # type: ignore[index]
        120,
        "job under way",
    )
    os.kill(service_pid(proc.pid, "ui"), signal.SIGKILL)
    wait_for(
        answered(lambda: get_json(f"http://127.0.0.1:{port}/api/jobs/{job_id}")["status"] == "done"),  # type: ignore[index]
        400,
        "the job done after the UI restart",
    )
    job = get_json(f"http://127.0.0.1:{port}/api/jobs/{job_id}")
    assert isinstance(job, dict) and job["summary"]["frames"] == 300
    assert "annotated.mp4" in job["files"]


@pytest.mark.parametrize(("sig", "after_s"), [(signal.SIGTERM, 1.0), (signal.SIGINT, 6.0)])
def test_up_interrupted_at_start_leaves_nothing(
    sample_media: Path, tmp_path: Path, sig: signal.Signals, after_s: float
) -> None:
    proc = start_up(tmp_path, free_port(), sample_media / "single_face.mp4")
    time.sleep(after_s)
    proc.send_signal(sig)
    proc.wait(30)
    assert not wait_until_gone(proc.pid, tmp_path / "data"), "processes left behind"


@pytest.mark.parametrize(("sig", "after_s"), [(signal.SIGTERM, 0.5), (signal.SIGINT, 20.0)])
def test_analyze_interrupted_says_so_and_leaves_nothing(
    sample_media: Path, tmp_path: Path, sig: signal.Signals, after_s: float
) -> None:
    redis_dirs = Path(tempfile.gettempdir(), "emostream-redis-")
    before = set(stack_processes(-1, redis_dirs))  # the test session's own Redis, among others
    # three times the 472-frame sample: the pipeline (2 detectors, OpenVINO) would finish the sample
    # alone within the 20 s before SIGINT
    video = looped(sample_media / "WolfgangLanger_Pexels.mp4", tmp_path / "long.mp4", times=3)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "analyze",
            str(video),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # start-up is under way once the first process of its stack exists (a loaded machine may take
    # seconds just to import Python before that)
    wait_for(
        answered(lambda: set(stack_processes(proc.pid, redis_dirs)) - before or proc.poll() is not None),
        120,
        "start-up",
    )
    time.sleep(after_s)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=40)
    assert proc.returncode == 128 + sig, out.decode()[-2000:]
    assert f"interrupted by {sig.name}" in out.decode()
    assert not (tmp_path / "out" / "annotated.mp4").exists()
    deadline = time.monotonic() + 10
    while (left := set(stack_processes(proc.pid, redis_dirs)) - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes left behind: {left}"
