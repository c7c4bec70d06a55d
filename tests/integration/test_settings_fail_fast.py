"""Settings fail fast, in one line: ``emostream up`` validates every child's settings before any child
starts and exits 2 naming the variable, its value (secrets masked) and what is allowed; a service alone
exits with EX_CONFIG; and the supervisor does not restart a child that exits so. Real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.cli.supervisor import Child, Supervisor
from services.common.settings_check import EX_CONFIG
from tests.support.wait import free_port, wait_for

pytestmark = pytest.mark.integration


def run_up(tmp_path: Path, sample_media: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EMOSTREAM_")}
    base |= {"EMOSTREAM_DATA_DIR": str(tmp_path / "data"), **env}
    argv = [sys.executable, "-m", "services.cli", "--log-level", "INFO", "up", "--port", str(free_port())]
    argv += ["--source", f"cam={sample_media / 'single_face.mp4'}", *args]
    return subprocess.run(argv, env=base, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("--port", "99999"), {}, ["ui: EMOSTREAM_PORT='99999'", "less than or equal to 65535"]),
        (
            (),
            {"EMOSTREAM_REDIS_TLS_CA": "/nonexistent/ca.pem"},
            ["EMOSTREAM_REDIS_TLS_CA", "no readable file"],
        ),
        (
            (),
            {"EMOSTREAM_WEBHOOK_URL": "ftp://hooks.example/x"},
            ["events: EMOSTREAM_WEBHOOK_URL", "http://HOST"],
        ),
        (
            (),
            {"EMOSTREAM_MQTT_URL": "mqtt://u:s3cret@broker:99999"},
            ["mqtt://u:***@broker:99999", "not a URL"],
        ),
        ((), {"EMOSTREAM_LIVE_MAX_AGE_MS": "5"}, ["EMOSTREAM_LIVE_MAX_AGE_MS='5'", "greater than or equal"]),
    ],
    ids=["bad-port", "bad-path", "bad-url", "secret-masked", "bad-number"],
)
def test_up_refuses_bad_settings_before_any_service_starts(
    tmp_path: Path, sample_media: Path, args: tuple[str, ...], env: dict[str, str], said: list[str]
) -> None:
    started = time.monotonic()
    done = run_up(tmp_path, sample_media, *args, **env)
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("emostream: invalid settings: "), done.stderr[-2000:]
    for part in said:
        assert part in line, line
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr + done.stdout
    assert "started service=" not in done.stderr, "a service started before the settings were checked"
    assert time.monotonic() - started < 60


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path, sample_media: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    done = run_up(tmp_path, sample_media)
    assert done.returncode == 2
    assert "EMOSTREAM_DATA_DIR" in done.stderr and "not a directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_service_alone_exits_with_ex_config_in_one_line() -> None:
    env = {**os.environ, "EMOSTREAM_STREAM_MAXLEN": "lots"}
    done = subprocess.run(
        [sys.executable, "-m", "services.tracker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == EX_CONFIG
    assert done.stderr.strip() == (
        "emostream tracker: invalid settings: EMOSTREAM_STREAM_MAXLEN='lots': "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_the_supervisor_restarts_a_crash_but_not_a_child_stopped_by_its_settings(tmp_path: Path) -> None:
    supervisor = Supervisor({})
    starts = tmp_path / "starts"
    count = f"open({str(starts)!r} + '-' + sys.argv[1], 'a').write('x')"
    for name, code in (("crashes", 1), ("misconfigured", EX_CONFIG)):
        script = f"import sys; {count}; sys.exit({code})"
        supervisor.children.append(Child(name, [sys.executable, "-c", script, name], dict(os.environ)))
    supervisor.start()

    def runs(name: str) -> int:
        path = Path(f"{starts}-{name}")
        return path.read_text().count("x") if path.exists() else 0

    def restarted_twice() -> bool:
        supervisor.poll()
        return runs("crashes") >= 3

    try:
        wait_for(restarted_twice, 30, "two restarts of the crashing child")
        assert runs("misconfigured") == 1, "restarted after EX_CONFIG"
        assert supervisor.given_up() == ["misconfigured"]
    finally:
        supervisor.stop()
