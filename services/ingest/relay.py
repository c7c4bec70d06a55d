"""An HTTP body fed to FFmpeg through a pipe: FFmpeg reads ``pipe:N`` and so opens no URL of its own.

From inside a pipe FFmpeg opens only the ``crypto`` and ``data`` protocols (the pipe protocol's default
whitelist), so a playlist, SDP or concat file in the body leads nowhere (:mod:`services.ingest.fetch`).
"""

from __future__ import annotations

import http.client
import logging
import os
import threading

from services.ingest.fetch import Fetched, shown

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024


class Relay:
    """Copies ``fetched``'s body into a pipe in a thread of its own until the body ends or :meth:`close`.

    ``target`` is what OpenCV opens (with ``cv2.CAP_FFMPEG``). The end of the body, or a read that
    times out, closes the pipe: FFmpeg then sees the end of its input."""

    def __init__(self, fetched: Fetched) -> None:
        self.fetched = fetched
        self._read_fd, self._write_fd = os.pipe()
        self.target = f"pipe:{self._read_fd}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="relay", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        data = self.fetched.head
        try:
            while data and not self._stop.is_set():
                view = memoryview(data)
                while view:
                    view = view[os.write(self._write_fd, view) :]
                data = self.fetched.response.read1(CHUNK_BYTES)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if not self._stop.is_set():
                log.info("stream ended url=%s error=%r", shown(self.fetched.url), str(exc))
        finally:
            os.close(self._write_fd)
            self.fetched.close()

    def close(self) -> None:
        """Stop copying and close both ends (after FFmpeg let go of its end)."""
        self._stop.set()
        self.fetched.connection.shutdown()  # wakes a read of the body
        os.close(self._read_fd)  # wakes a write into a full pipe (EPIPE)
        self._thread.join(5)
