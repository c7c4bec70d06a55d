"""Least privilege in Redis: ``emostream acl`` against real redis-servers, and the embedded Redis of ``up``
and ``analyze`` (no anonymous client; each service as its own user)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from services.cli import acl
from services.cli.embedded_redis import EmbeddedRedis
from services.cli.stack import stack
from services.common import keys
from services.common.purge import purge_camera, rewrite_files
from tests.support.wait import free_port, wait_for

pytestmark = pytest.mark.integration


def run_acl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "acl", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_acl_file_loads_in_redis_and_holds_each_service_to_its_keys(tmp_path: Path) -> None:
    passwords = {acl.password_env(u): f"pw-{u}" for u in (*acl.USERS, acl.ADMIN)}
    done = run_acl("--out", str(tmp_path / "users.acl"), env=passwords)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "users.acl").stat().st_mode & 0o777 == 0o600
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", ""]
        + ["--aclfile", str(tmp_path / "users.acl")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        admin = redis.Redis(port=port, username="admin", password="pw-admin")
        wait_for(lambda: admin.ping(), 10, "redis-server with the ACL file")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()  # the default user is off
        users = {u: redis.Redis(port=port, username=u, password=f"pw-{u}") for u in acl.USERS}
        users["ingest"].xadd(keys.stream("frames", "c"), {"x": "1"})
        users["detector"].xgroup_create(keys.stream("frames", "c"), "detector", id="0")
        assert users["detector"].xreadgroup("detector", "d1", {keys.stream("frames", "c"): ">"})
        users["tracker"].set(keys.tracker_state("c"), "{}")
        users["ui"].sadd(keys.CAMERAS, "c")
        assert users["ui"].smembers(keys.CAMERAS) == {b"c"}
        # the dashboard's purge: all of a camera, then Redis's files rewritten (services.common.purge)
        users["events"].zadd(keys.history("c"), {"{}": 1})
        users["events"].set(keys.events_state("c"), "{}")
        users["ui"].set(keys.frame("c", 0), b"jpeg")
        done = purge_camera(users["ui"], "c", settle_s=0, lease_wait_s=0)
        assert done["frames"] == 1 and done["keys"] == 2 and done["camera"] == 1  # history, events state
        assert not admin.exists(keys.history("c"), keys.events_state("c"), keys.tracker_state("c"))
        assert rewrite_files(users["ui"]) == []  # this server keeps no files: nothing to rewrite
        users["ui"].bgrewriteaof()
        for user, command in [
            ("detector", lambda r: r.set(keys.tracker_state("c"), "x")),  # another service's state
            ("classifier", lambda r: r.xadd(keys.stream("frames", "c"), {"x": "1"})),  # not its output
            ("tracker", lambda r: r.hgetall(keys.job("j"))),
            ("events", lambda r: r.sadd(keys.CAMERAS, "evil")),  # only the UI and ingest register
            ("ui", lambda r: r.set(keys.tracker_lease("c"), "me")),  # the UI never takes a lease
            ("ui", lambda r: r.set(keys.events_lease("c"), "me")),
            ("ui", lambda r: r.flushall()),  # it erases one camera, never everything
            ("ingest", lambda r: r.flushall()),
            ("ui", lambda r: r.config_set("dir", "/tmp")),
            ("ui", lambda r: r.publish("x", "y")),
        ]:
            with pytest.raises(redis.exceptions.NoPermissionError):
                command(users[user])
    finally:
        server.terminate()
        server.wait(10)


def test_acl_out_needs_every_password_and_says_which() -> None:
    done = run_acl("--out", "/tmp/never-written.acl", env={acl.password_env("ingest"): "x"})
    assert done.returncode == 2
    assert acl.password_env("detector") in done.stderr
    assert not Path("/tmp/never-written.acl").exists()


def test_printed_setuser_lines_are_accepted_by_redis() -> None:
    done = run_acl(env={})
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if line.startswith("ACL SETUSER")]
    assert [line[2] for line in lines] == ["default", *acl.USERS, acl.ADMIN]
    with EmbeddedRedis(password="root") as server:
        client = redis.Redis(port=server.port, password="root")
        for line in lines[1:]:  # (not the first: it would lock this client's default user out)
            client.execute_command(*line)
        generated = dict(
            line.removeprefix("# generated: ").split("=", 1)
            for line in done.stdout.splitlines()
            if line.startswith("# generated:")
        )
        tracker = redis.Redis(
            port=server.port, username="tracker", password=generated[acl.password_env("tracker")]
        )
        assert tracker.ping()


def test_the_embedded_redis_lets_in_no_anonymous_client_and_each_service_as_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMOSTREAM_REDIS_URL", raising=False)
    with stack(("ingest",), redis_url="") as running:
        assert running.embedded is not None
        port = running.embedded.port
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, password="guess").ping()
        child = running.supervisor.children[0]
        assert child.env["EMOSTREAM_REDIS_USERNAME"] == "ingest"
        own = redis.Redis(port=port, username="ingest", password=child.env["EMOSTREAM_REDIS_PASSWORD"])
        wait_for(lambda: own.exists(keys.health("ingest", child.env["EMOSTREAM_INSTANCE"])), 60, "ingest up")
        with pytest.raises(redis.exceptions.NoPermissionError):
            own.set(keys.tracker_state("c"), "x")
        assert "EMOSTREAM_REDIS_PASSWORD" not in " ".join(child.args)
