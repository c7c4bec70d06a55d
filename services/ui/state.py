"""The shared reader: one background thread per app keeps the latest annotated frame of every camera.

Every viewer (MJPEG streams, snapshots, the dashboard) reads from :class:`LiveState` in memory, so
Redis load does not grow with the number of browsers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

import redis

from services.common import keys, metrics, registry
from services.common.annotate import render
from services.common.image import decode_jpeg, encode_jpeg
from services.common.lifecycle import Backoff
from services.common.privacy import blur_whole
from services.common.schema import Frame, Tracks
from services.common.settings import Privacy
from services.ui import pipeline
from services.ui.metrics import FRAMES_DRAWN
from services.ui.stage import CameraView, dwell, latest_frame, latest_tracks

log = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


SHOWN_WINDOW_S = 2.0  # the window of ``shown_fps``


class LiveState:
    """Polls the registry and each camera's newest ``Tracks`` at ``poll_hz``; draws each new one once."""

    def __init__(
        self,
        client: redis.Redis,
        poll_hz: float = 12,
        jpeg_quality: int = 80,
        pipeline_interval_s: float = 2.0,
        privacy: Privacy = "off",
    ) -> None:
        """``privacy``: ``"blur"`` blurs every face in what the viewers get (services.common.privacy)."""
        self.redis = client
        self.privacy = privacy
        self.interval_s = 1.0 / poll_hz
        self.pipeline_interval_s = pipeline_interval_s
        self.pipeline = pipeline.Snapshot()  # replaced whole every ``pipeline_interval_s``
        self.redis_error = ""  # why the last poll failed (Redis away); "" while polls succeed
        self.on_poll: list[Callable[[], object]] = []  # run after each poll in the reader thread (sweeps)
        self._pipeline_due = 0.0
        self._shown: dict[str, list[float]] = {}  # camera -> when its last annotated frames were drawn
        self.jpeg_quality = jpeg_quality
        self.stats: Counter[str] = Counter()
        self.last_poll_ms = 0
        self._views: dict[str, CameraView] = {}  # replaced whole, never mutated: safe to read
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts the wait between polls short (:meth:`refresh`, :meth:`stop`)
        self._polls = threading.Condition()
        self._started = self._finished = 0  # numbers of the polls begun and of the last one finished
        self.closing = threading.Event()  # set at shutdown: MJPEG and push streams end so uvicorn can exit
        self._thread: threading.Thread | None = None

    # -- readers (any thread) -------------------------------------------------------------------------
    def views(self) -> list[CameraView]:
        return list(self._views.values())

    def get(self, camera_id: str) -> CameraView | None:
        return self._views.get(camera_id)

    def shown_fps(self) -> dict[str, float]:
        """Per camera, annotated frames drawn per second over the last ``SHOWN_WINDOW_S`` (what the tiles
        can show; below the camera's own fps when the pipeline cannot keep up)."""
        t = time.monotonic()
        return {
            cam: round(sum(1 for x in times if t - x < SHOWN_WINDOW_S) / SHOWN_WINDOW_S, 1)
            for cam, times in list(self._shown.items())
        }

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self.closing.clear()
        self._thread = threading.Thread(target=self._run, name="ui-reader", daemon=True)
        self._thread.start()

    def refresh(self, timeout_s: float = 2.0) -> bool:
        """Wake the reader and wait for a poll that begins after this call (a REST write, then reads of
        the views that show it). False when none finished within ``timeout_s`` (Redis away)."""
        with self._polls:
            want = self._started + 1
            self._wake.set()
            return self._polls.wait_for(lambda: self._finished >= want, timeout_s)

    def stop(self) -> None:
        self.closing.set()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        log.info("reader starting poll_hz=%.1f", 1 / self.interval_s)
        backoff = Backoff()
        while not self._stop.is_set():
            started = time.monotonic()
            with self._polls:
                self._started += 1
                number = self._started
            try:
                self.poll()
                self.redis_error = ""
                with self._polls:
                    self._finished = number
                    self._polls.notify_all()
                for hook in self.on_poll:
                    hook()
                if time.monotonic() >= self._pipeline_due:
                    self.refresh_pipeline()
                backoff.reset()
                # the poll's own time counts: polling every interval_s, not interval_s after each poll
                self._wake.wait(max(0.005, self.interval_s - (time.monotonic() - started)))
                self._wake.clear()
            except redis.RedisError as exc:
                delay = backoff.next_s()
                log.warning("redis unavailable error=%r retry_in_s=%.1f", str(exc), delay)
                self.redis_error = str(exc) or type(exc).__name__
                self._stop.wait(delay)
            except Exception:  # noqa: BLE001 -- a bad frame must not stop the dashboard
                log.exception("reader poll failed")
                self._stop.wait(1.0)
        log.info("reader stopped stats=%s", dict(self.stats))

    def refresh_pipeline(self) -> None:
        """Read the services' health, stage latency and group lag (see :mod:`services.ui.pipeline`)."""
        cameras = [v.camera for v in self.views()]
        self.pipeline = pipeline.read(self.redis, cameras, now_ms())
        self._pipeline_due = time.monotonic() + self.pipeline_interval_s

    # -- one poll -----------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Refresh the registry, then draw each camera's newest ``Tracks`` message if it is new."""
        cameras = registry.all_cameras(self.redis)
        pipe = self.redis.pipeline(transaction=False)
        for c in cameras:
            pipe.xrevrange(keys.stream("tracks", c.camera_id), count=8)
        results = pipe.execute() if cameras else []
        fresh: dict[str, CameraView] = {}
        for camera, entries in zip(cameras, results, strict=True):
            old = self._views.get(camera.camera_id)
            fresh[camera.camera_id] = self._update(camera, old, latest_tracks(entries))
        self._views = fresh
        for gone in set(self._shown) - set(fresh):
            del self._shown[gone]
        self.last_poll_ms = now_ms()

    def _update(
        self, camera: registry.Camera, old: CameraView | None, found: tuple[str, Tracks] | None
    ) -> CameraView:
        if found is None:
            # No tracker output yet: show the raw newest frame so a camera is visible before the pipeline is.
            return self._raw_frame(camera, old)
        entry_id, tracks = found
        if old is not None and old.tracks_entry_id == entry_id:
            return CameraView(
                camera, old.tracks, entry_id, old.jpeg, old.jpeg_seq, old.seen_ms, old.drawn_latency_ms
            )
        latency_ms = max(0, now_ms() - tracks.captured_ms)
        metrics.LATENCY_S.labels("ui").observe(latency_ms / 1000)
        jpeg, seq = (old.jpeg, old.jpeg_seq) if old else (None, -1)
        drawn = self._draw(tracks)
        if drawn is not None:
            jpeg, seq = drawn, tracks.seq
            t = time.monotonic()
            times = self._shown.get(camera.camera_id, [])
            self._shown[camera.camera_id] = [x for x in times if t - x < SHOWN_WINDOW_S] + [t]
        seen = dwell(old.seen_ms if old else {}, tracks)
        return CameraView(camera, tracks, entry_id, jpeg, seq, seen, latency_ms)

    def _draw(self, tracks: Tracks) -> bytes | None:
        """The frame of ``tracks`` with its boxes drawn, or None when its frame expired or is bad."""
        raw = self.redis.get(tracks.frame_key)
        if not isinstance(raw, bytes):
            self.stats["frame_expired"] += 1
            return None
        try:
            img = render(decode_jpeg(raw), tracks, self.privacy)
            jpeg = encode_jpeg(img, self.jpeg_quality)
        except ValueError as exc:
            log.warning("cannot draw frame key=%s error=%r", tracks.frame_key, str(exc))
            self.stats["frame_bad"] += 1
            return None
        self.stats["drawn"] += 1
        FRAMES_DRAWN.inc()
        return jpeg

    def _raw_frame(self, camera: registry.Camera, old: CameraView | None) -> CameraView:
        entries = self.redis.xrevrange(keys.stream("frames", camera.camera_id), count=1)
        frame = latest_frame(entries or [])
        jpeg, seq = (old.jpeg, old.jpeg_seq) if old else (None, -1)
        if isinstance(frame, Frame) and frame.seq != seq:
            raw = self.redis.get(frame.frame_key)
            if isinstance(raw, bytes):
                jpeg, seq = self._unknown_faces(raw), frame.seq
        return CameraView(camera, None, "", jpeg, seq)

    def _unknown_faces(self, raw: bytes) -> bytes | None:
        """A frame whose faces are not known yet, as the viewers may see it: as captured, or blurred whole
        under the ``blur`` privacy mode (None when it cannot be decoded)."""
        if self.privacy == "off":
            return raw
        try:
            return encode_jpeg(blur_whole(decode_jpeg(raw)), self.jpeg_quality)
        except ValueError:
            self.stats["frame_bad"] += 1
            return None
