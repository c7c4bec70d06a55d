"""Runs services as child processes (``python -m services.<name>``), restarts crashes, stops them all."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from services.cli.child_env import child_env
from services.common.settings_check import EX_CONFIG

log = logging.getLogger(__name__)

#: a child whose supervisor is gone (even SIGKILLed) stops by itself: see ``common.cli.service_main``
PARENT_PID_ENV = "EMOSTREAM_PARENT_PID"


def instance_name(service: str, replica: int = 0) -> str:
    """The stable consumer and health name of a supervised child: the same after each of its restarts, so
    a restarted worker finds its own pending entries (and the tracker its own leases) at once."""
    return f"{socket.gethostname()}-{service}-{replica}-{os.getpid()}"


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    replica: int = 0  # 0 for the first process of a service, 1 for the second, ...
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start_s: float = 0.0
    started_s: float = field(default=0.0)
    given_up: bool = False  # exited with EX_CONFIG: its settings are wrong, a restart would fail the same way


class Supervisor:
    """Starts each child in its own process group so that stopping leaves no grandchild behind.

    Thread-safe: a monitor thread may :meth:`poll` while another thread calls :meth:`stop`.
    """

    def __init__(self, base_env: dict[str, str]) -> None:
        self.base_env = base_env
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._stopping = False

    def add(
        self,
        name: str,
        extra_args: list[str] | None = None,
        redis_user: tuple[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """A child of service ``name``, with only its own secrets (:mod:`services.cli.child_env`);
        ``redis_user``: its own ACL user and password; ``env``: settings for this child alone, on top of
        the stack's (its secrets still go only where :data:`~services.cli.child_env.OWN_SECRETS` says)."""
        args = [sys.executable, "-m", f"services.{name}", *(extra_args or [])]
        replica = sum(1 for c in self.children if c.name == name)
        shared = {
            "EMOSTREAM_INSTANCE": instance_name(name, replica),
            PARENT_PID_ENV: str(os.getpid()),
            **self.base_env,
            **(env or {}),
        }
        self.children.append(Child(name, args, child_env(name, os.environ, shared, redis_user), replica))

    def start(self) -> None:
        with self._lock:
            for child in self.children:
                if not self._stopping:
                    self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.args, env=child.env, start_new_session=True)
        child.started_s = time.monotonic()
        log.info("started service=%s pid=%d", child.name, child.proc.pid)

    def poll(self) -> None:
        """Restart children that exited, with backoff (0.5, 1, 2 ... 30 s; reset after a minute up); one
        that exited with ``EX_CONFIG`` (its settings) is not restarted (:meth:`given_up`)."""
        with self._lock:
            if self._stopping:
                return
            now = time.monotonic()
            for child in self.children:
                if child.given_up or child.proc is None or child.proc.poll() is None:
                    continue
                if child.proc.returncode == EX_CONFIG:
                    child.given_up = True
                    log.error("service stopped by its settings service=%s; not restarted", child.name)
                    continue
                if child.next_start_s == 0.0:
                    if now - child.started_s > 60:
                        child.restarts = 0
                    child.restarts += 1
                    delay = min(30.0, 0.5 * 2.0 ** (child.restarts - 1))
                    child.next_start_s = now + delay
                    log.warning(
                        "service exited service=%s code=%s restart_in_s=%.1f",
                        child.name,
                        child.proc.returncode,
                        delay,
                    )
                elif now >= child.next_start_s:
                    child.next_start_s = 0.0
                    self._spawn(child)

    def given_up(self) -> list[str]:
        """The services with a child that stopped because of its settings."""
        with self._lock:
            return sorted({c.name for c in self.children if c.given_up})

    def pids(self) -> dict[str, int]:
        """``{service: pid}`` of the children running now; a second replica is ``service-1``, and so on."""
        with self._lock:
            return {
                c.name if c.replica == 0 else f"{c.name}-{c.replica}": c.proc.pid
                for c in self.children
                if c.proc is not None and c.proc.poll() is None
            }

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM every child's process group, wait up to ``timeout_s``, then SIGKILL what is left."""
        with self._lock:
            self._stopping = True
            running = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("service did not stop in time pid=%d; killing", proc.pid)
        for proc in [c.proc for c in self.children if c.proc is not None]:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
