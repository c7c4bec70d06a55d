"""``emostream up --host 0.0.0.0`` (exposed, as the docs describe it: login, token, source rules) keeps
secrets and faces private: each child holds only its own secrets, no camera password shows in the API, the
logs or Redis's append-only file, and the data directory is its user's alone after a live camera and a
video job ran. It refuses the cloud metadata address in its IPv6 spellings, and a cross-site upload sent
with the login a browser has cached, with 403, and the camera and the job keep running meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_up import descendants
from tests.support.wait import free_port, wait_for

pytestmark = [pytest.mark.e2e]

UI_PASSWORD = "ui-Pa55-7f3a"
API_TOKEN = "api-T0ken-91c2"
WEBHOOK_SECRET = "hook-K3y-5d0e"
CAMERA_PASSWORDS = ("cli-Pa55-e1b7", "api-Pa55-44c9")


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def service_of(env: dict[str, str]) -> str | None:
    """The service a supervised child runs (its EMOSTREAM_INSTANCE is HOST-SERVICE-REPLICA-PID)."""
    instance = env.get("EMOSTREAM_INSTANCE")
    return instance.rsplit("-", 3)[1] if instance and env.get("EMOSTREAM_PARENT_PID") else None


def test_up_gives_each_child_its_own_secrets_and_keeps_data_private(
    sample_media: Path, tmp_path: Path
) -> None:
    port = free_port()
    closed = free_port()  # nothing listens: the RTSP cameras fail at once, with their URL in the error
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "EMOSTREAM_REDIS_URL"}
    env.update(
        EMOSTREAM_DATA_DIR=str(data),
        EMOSTREAM_UI_PASSWORD=UI_PASSWORD,
        EMOSTREAM_API_TOKEN=API_TOKEN,
        EMOSTREAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        EMOSTREAM_LIVE_MAX_AGE_MS="8000",
    )
    log_path = tmp_path / "up.log"
    log = open(log_path, "w")  # noqa: SIM115 -- the child writes to it until the finally
    door = f"rtsp://viewer:{CAMERA_PASSWORDS[0]}@127.0.0.1:{closed}/stream"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "services.cli", "up", "--host", "0.0.0.0", "--port", str(port)),
            *("--source", f"cam1={sample_media / 'single_face.mp4'}", "--source", f"door={door}"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    )
    try:

        def cameras() -> dict[str, dict[str, object]]:
            assert proc.poll() is None, log_path.read_text()[-3000:]
            try:
                return {c["name"]: c for c in api.get("/api/cameras").json()}
            except (httpx.HTTPError, ValueError, TypeError):
                return {}

        wait_for(lambda: cameras().get("cam1", {}).get("status") == "running", 240, "cam1 running")
        gate = f"rtsp://viewer:{CAMERA_PASSWORDS[1]}@127.0.0.1:{closed}/gate"
        added = api.post("/api/cameras", json={"name": "gate", "uri": gate})
        assert added.status_code == 201, added.text
        with (sample_media / "single_face.mp4").open("rb") as fh:
            job = api.post("/api/jobs", files={"file": ("single_face.mp4", fh, "video/mp4")})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]

        # hostile requests while the camera and the job run: the metadata address, a cross-site upload
        for uri in ("http://[::ffff:169.254.169.254]/latest/", "http://[64:ff9b::a9fe:a9fe]/latest/"):
            refused = api.post("/api/cameras", json={"name": "meta", "uri": uri})
            assert refused.status_code == 403 and "link-local" in refused.json()["detail"], refused.text
        browser = {"Origin": "http://evil.example"}
        login = ("emostream", UI_PASSWORD)
        for route in ("/api/jobs", "/gradio_api/upload"):
            form = {"file": ("clip.mp4", b"\0" * 1000, "video/mp4")}
            answer = httpx.post(api.base_url.join(route), files=form, headers=browser, auth=login)
            assert answer.status_code == 403 and "cross-site" in answer.json()["detail"], answer.text
        assert "meta" not in cameras()
        assert [j["id"] for j in api.get("/api/jobs").json()] == [job_id]
        wait_for(
            lambda: api.get(f"/api/jobs/{job_id}").json()["status"] in ("done", "failed"), 300, "the job"
        )
        assert api.get(f"/api/jobs/{job_id}").json()["status"] == "done"
        wait_for(
            lambda: all(cameras().get(c, {}).get("status") == "error" for c in ("door", "gate")),
            60,
            "both RTSP cameras tried and failed",
        )

        # the API shows the cameras, masked
        listed = cameras()
        assert listed["door"]["uri"] == f"rtsp://viewer:***@127.0.0.1:{closed}/stream"
        assert listed["gate"]["uri"] == f"rtsp://viewer:***@127.0.0.1:{closed}/gate"
        text = api.get("/api/cameras").text

        # every child: its own secrets only, its own Redis user, no password in the Redis URL
        children = {pid: environ(pid) for pid in descendants(proc.pid)}
        services = {pid: service_of(e) for pid, e in children.items() if service_of(e)}
        assert set(services.values()) >= {"ingest", "detector", "classifier", "tracker", "events", "ui"}
        for pid, service in services.items():
            child = children[pid]
            values = "\0".join(child.values())
            assert (UI_PASSWORD in values, API_TOKEN in values) == ((service == "ui",) * 2), service
            assert (WEBHOOK_SECRET in values) == (service == "events"), service
            assert ("EMOSTREAM_SOURCE_KEY" in child) == (service in ("ui", "ingest")), service
            assert "@" not in child["EMOSTREAM_REDIS_URL"], f"{service} holds a Redis password in its URL"
            assert child["EMOSTREAM_REDIS_USERNAME"] == service

        time.sleep(1.5)  # appendfsync everysec
        aof = b"".join(p.read_bytes() for p in (data / "redis").rglob("*") if p.is_file())
        assert b"rtsp://viewer" in aof, "the AOF holds the cameras (masked)"
        for password in CAMERA_PASSWORDS:
            assert password not in text
            assert password.encode() not in aof, "a camera password in clear in the AOF"

        # nothing in the data directory is readable or writable by group or others
        found = subprocess.run(
            ["find", str(data), "-perm", "/077"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert len(list(data.rglob("*"))) > 5
        assert found == [], f"not private to its user: {found}"
    finally:
        api.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    logged = log_path.read_text()
    assert "viewer:***@" in logged, "the cameras are logged, masked"
    for password in CAMERA_PASSWORDS:
        assert password not in logged, "a camera password in a log line"
