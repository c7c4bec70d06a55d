"""A real 3-master Redis Cluster on free ports, with the services' ACL users (``services.cli.acl``).

``redis-server --cluster-enabled yes`` once per node, then ``redis-cli --cluster create``; the anonymous
``default`` user is off, so every client logs in as a user: the services as their own, the tests as
``admin``. With ``replicas=1`` each master gets a replica (which logs in to it as ``admin``), and a
master that dies is replaced by its replica after ``node_timeout_ms``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from services.cli import acl
from tests.support.wait import free_port


class Cluster:
    def __init__(
        self, root: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 15_000
    ) -> None:
        self.passwords = acl.new_passwords()
        self.ports = [free_port() for _ in range(masters * (1 + replicas))]
        self.procs: list[subprocess.Popen[bytes]] = []
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("redis-server and redis-cli are needed (apt-get install redis-server)")
        admin = self.passwords[acl.ADMIN]
        users = "".join(f"{acl.config_line(u, p)}\n" for u, p in self.passwords.items())
        for port in self.ports:
            home = root / str(port)
            home.mkdir(parents=True)
            config = (
                f"port {port}\nbind 127.0.0.1\ncluster-enabled yes\ncluster-port {free_port()}\n"
                f"cluster-config-file {home / 'nodes.conf'}\ndir {home}\nsave ''\nappendonly no\n"
                f"cluster-node-timeout {node_timeout_ms}\nmasteruser {acl.ADMIN}\nmasterauth {admin}\n"
                f"user default off\n{users}"
            )
            (home / "redis.conf").write_text(config)
            args = [server, str(home / "redis.conf")]
            if shutil.which("setpriv"):  # the node gets SIGTERM when the test session dies, even by SIGKILL
                args = [shutil.which("setpriv") or "setpriv", "--pdeathsig", "TERM", *args]
            self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for port in self.ports:
            self._wait(lambda p=port: self.node(p).ping(), f"node {port} to answer")
        subprocess.run(
            [
                cli,
                *("--user", acl.ADMIN, "--pass", admin, "--no-auth-warning"),
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                *("--cluster-replicas", str(replicas), "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in self.ports:
            self._wait(
                lambda p=port: self.node(p).cluster("info")["cluster_state"] == "ok",
                f"node {port} to reach cluster_state:ok",
            )

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, username=acl.ADMIN, password=self.passwords[acl.ADMIN])

    @property
    def url(self) -> str:
        """Any node's URL, logged in as ``admin``."""
        return f"redis://{acl.ADMIN}:{self.passwords[acl.ADMIN]}@127.0.0.1:{self.ports[0]}/0"

    def client(self) -> RedisCluster:
        return RedisCluster.from_url(self.url)

    def _wait(self, ready: object, what: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if ready():  # type: ignore[operator]
                    return
            except (redis.RedisError, KeyError):
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                errors = [p.stderr.read().decode() for p in self.procs if p.poll() is not None and p.stderr]
                self.stop()
                raise RuntimeError(f"redis cluster: gave up waiting for {what}: {errors}")
            time.sleep(0.1)

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port`` (a master that dies: its replica takes over)."""
        proc = self.procs[self.ports.index(port)]
        proc.kill()
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
