"""Frigate-style watchdog: a service whose loop stops advancing exits, so its supervisor restarts it.

The loop calls :func:`pet` once per iteration. :func:`start` runs a daemon thread that arms itself at the
first :func:`pet` (loading a model may take long) and then exits the process with status
:data:`STUCK_EXIT` when ``timeout_s`` pass without one. It also stops the service when the supervisor
that started it (``parent_pid``) is gone, even if that was killed with SIGKILL.
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

STUCK_EXIT = 70  # EX_SOFTWARE
_last_pet: list[float] = []


def pet() -> None:
    """The loop advanced."""
    if _last_pet:
        _last_pet[0] = time.monotonic()
    else:
        _last_pet.append(time.monotonic())


def stalled_s() -> float:
    """Seconds since the last :func:`pet` (0 before the first)."""
    return time.monotonic() - _last_pet[0] if _last_pet else 0.0


def start(timeout_s: float, stop: threading.Event, parent_pid: int = 0, grace_s: float = 20.0) -> None:
    """Watch in a daemon thread; ``timeout_s`` 0 disables the stall check, ``parent_pid`` 0 the parent one."""

    def watch() -> None:
        orphaned_at = 0.0
        while True:
            time.sleep(0.5)
            if parent_pid and os.getppid() != parent_pid and not orphaned_at:
                log.warning("supervisor gone parent_pid=%d: stopping", parent_pid)
                orphaned_at = time.monotonic()
                stop.set()
            if orphaned_at and time.monotonic() - orphaned_at > grace_s:
                os._exit(0)
            if timeout_s and stalled_s() > timeout_s and not stop.is_set():
                log.error("watchdog: loop stuck for %.0f s (limit %.0f): exiting", stalled_s(), timeout_s)
                logging.shutdown()
                os._exit(STUCK_EXIT)

    threading.Thread(target=watch, name="watchdog", daemon=True).start()
