"""One camera's reading loop: frames -> ``frame:{cam}:{seq}`` + a reference on ``emo:frames:{cam}``."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import redis

from services.common import codec, keys, registry
from services.common.credentials import CredentialError
from services.common.frames import queue_frame
from services.common.image import encode_jpeg
from services.common.lifecycle import Backoff, redis_away
from services.common.registry import Camera
from services.common.schema import End, Mode
from services.common.sources import SourceError, SourceSpec, job_path, parse_uri
from services.common.streams import backlog
from services.common.worker import now_ms
from services.ingest.settings import IngestSettings
from services.ingest.source import FrameSource
from services.ingest.stage import Pacer, backoff_s, effective_fps

log = logging.getLogger(__name__)

#: a smaller frame cannot hold a face MTCNN finds (its smallest is 12 px): refused with a clear error
MIN_FRAME_SIDE_PX = 12
#: the most frames of a file job published in one MULTI (one round trip)
FILE_BATCH = 16


class CameraReader:
    """Publishes one camera until stopped (live) or until the file ends (file job).

    Live sources are paced at their frame rate (capped), reopened with backoff when they fail, and
    looped when ``camera.loop``. File jobs publish every frame with no TTL, pausing while the detector
    group's backlog is above the high-water mark, then publish an :class:`End` marker.
    """

    def __init__(self, client: redis.Redis, settings: IngestSettings, camera: Camera) -> None:
        self.redis = client
        self.settings = settings
        self.camera = camera
        self.policy = settings.source_policy()
        self.stop = threading.Event()
        self.seq = 0
        self.published = 0
        self._fps_window: list[float] = []

    def run(self) -> None:
        """Run until stopped or finished.

        Redis outages are waited out: a live camera then resumes, a file job continues at the next frame
        it had not published (``next_seq``). Any other exception in this camera's code is this camera's
        alone: a live camera shows it as its error and retries with backoff, a file job fails with it.
        """
        cam = self.camera
        backoff = Backoff()
        failures = 0
        while not self.stop.is_set():
            try:
                if cam.mode == "file":
                    self._run_file()
                else:
                    self._run_live()
                return
            except Exception as exc:  # noqa: BLE001 -- a camera must never take the ingest service down
                if redis_away(exc):
                    delay = backoff.next_s()
                    log.warning(
                        "redis unavailable camera=%s error=%r retry_in_s=%.1f", cam.camera_id, str(exc), delay
                    )
                    self.stop.wait(delay)
                    continue
                log.exception("camera crashed camera=%s", cam.camera_id)
                error = f"internal error: {type(exc).__name__}: {exc}"[:500]
                try:
                    if cam.mode == "file":
                        self._finish(error)
                        return
                    failures += 1
                    self._report_error(error, failures)
                except redis.RedisError:
                    self.stop.wait(backoff.next_s())

    # -- live -------------------------------------------------------------------------------------------
    def _run_live(self) -> None:
        cam = self.camera
        raw = self.redis.hget(keys.camera(cam.camera_id), "next_seq")
        self.seq = int(raw) if raw else 0
        failures = 0
        while not self.stop.is_set():
            try:
                source = self.open_source()
            except SourceError as exc:
                failures += 1
                self._report_error(str(exc), failures)
                continue
            try:
                pacer = Pacer(effective_fps(source.fps, self.settings.live_fps_cap))
                shown_running = False
                while not self.stop.is_set():
                    frame = source.read()
                    if frame is None:
                        if not cam.loop:
                            registry.set_status(self.redis, cam.camera_id, status="done")
                            return
                        break  # reopen from the start
                    wait = pacer.delay_s(time.monotonic())
                    if wait and self.stop.wait(wait):
                        return
                    self._publish([frame], mode="live")
                    if not shown_running:  # only once a frame made it: a bad source never looks healthy
                        registry.set_status(self.redis, cam.camera_id, status="running", error="")
                        shown_running, failures = True, 0
            except SourceError as exc:
                failures += 1
                self._report_error(str(exc), failures)
            finally:
                source.close()

    def open_source(self) -> FrameSource:
        """The camera's source, opened inside its policy and frame-size limit. Raises SourceError."""
        return FrameSource(self.spec_of(self.source_uri()), self.policy, max_px=self.settings.max_frame_px)

    def source_uri(self) -> str:
        """The camera's URI with its password (sealed apart in the registry: common.credentials).
        Raises SourceError when this ingest has no EMOSTREAM_SOURCE_KEY, or another one."""
        try:
            return self.camera.source_uri(self.settings.sealer())
        except (registry.CameraError, CredentialError) as exc:
            raise SourceError(str(exc)) from None

    def spec_of(self, uri: str) -> SourceSpec:
        """The source to open; a job reference (``job:ID/NAME``) resolves under this host's data directory,
        where the UI's job storage is mounted. Raises SourceError saying so when the file is not there."""
        spec = parse_uri(uri)
        if spec.kind != "job":
            return spec
        data_dir = self.settings.data_dir
        path = job_path(spec.target, data_dir)
        if not path.is_file():
            raise SourceError(
                f"{spec.target} is not at {path}: mount the UI's job storage (its EMOSTREAM_DATA_DIR) on this"
                f" ingest host and set EMOSTREAM_DATA_DIR to where it is mounted (now {data_dir})"
            )
        return SourceSpec("file", str(path))

    def _report_error(self, error: str, failures: int) -> None:
        delay = backoff_s(failures)
        log.warning(
            "camera unavailable camera=%s error=%r retry_in_s=%.0f", self.camera.camera_id, error, delay
        )
        registry.set_status(self.redis, self.camera.camera_id, status="error", error=error, retry_in_s=delay)
        self.stop.wait(delay)

    # -- file -------------------------------------------------------------------------------------------
    def _run_file(self) -> None:
        cam = self.camera
        error = ""
        try:
            source = self.open_source()
        except SourceError as exc:
            self._finish(str(exc))
            return
        except OSError as exc:  # a FIFO, a device, a directory that vanished: the job fails, ingest goes on
            self._finish(f"cannot open {cam.uri[:200]!r}: {exc}")
            return
        registry.set_status(
            self.redis,
            cam.camera_id,
            status="running",
            error="",
            total_frames=source.total_frames,
            source_fps=source.fps,
        )
        frames_stream = keys.stream("frames", cam.camera_id)
        group = keys.GROUPS["detector"][1]
        try:
            # a restarted ingest (or one back from a Redis outage) continues where the job stood
            raw = self.redis.hget(keys.camera(cam.camera_id), "next_seq")
            resume_at = int(raw) if raw else 0
            if resume_at:
                source.skip(resume_at)
                self.seq = self.published = resume_at
                log.info("file job resumed camera=%s at_frame=%d", cam.camera_id, resume_at)
            high_water = self.settings.file_high_water
            ended = False
            while not ended:
                # one backlog check, then as many frames as it leaves room for in one MULTI: a round
                # trip per batch, not three per frame, which over a 100 ms link was 1.6 frames/s
                room = min(high_water - backlog(self.redis, frames_stream, group, high_water), FILE_BATCH)
                if room <= 0:
                    if self.stop.wait(0.05):
                        return  # stopped mid-job: no End, the job is abandoned, not finished
                    continue
                if self.stop.is_set():
                    return
                batch: list[np.ndarray] = []
                while len(batch) < room and (frame := source.read()) is not None:
                    batch.append(frame)
                ended = len(batch) < room
                self._publish(batch, mode="file")
        except SourceError as exc:
            error = str(exc)
        finally:
            source.close()
        if source.total_frames and self.published < source.total_frames * 0.9 and not error:
            error = (
                f"video ended after {self.published} of {source.total_frames} frames (truncated or corrupt)"
            )
        self._finish(error)

    def _finish(self, error: str) -> None:
        cam = self.camera
        end = End(
            camera_id=cam.camera_id,
            seq=self.seq,
            captured_ms=now_ms(),
            mode="file",
            frames=self.published,
            error=error,
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            keys.stream("frames", cam.camera_id),
            codec.encode(end),
            maxlen=self.settings.stream_maxlen,
            approximate=True,
        )
        registry.set_status(
            pipe, cam.camera_id, status="failed" if error else "done", error=error, frames=self.published
        )
        pipe.execute()
        if error:
            log.warning("file job failed camera=%s error=%r frames=%d", cam.camera_id, error, self.published)
        else:
            log.info("file job read camera=%s frames=%d", cam.camera_id, self.published)

    # -- both -------------------------------------------------------------------------------------------
    def _publish(self, frames_bgr: list[np.ndarray], mode: Mode) -> None:
        """Publish ``frames_bgr`` in order, in one MULTI (all of them or none). Raises SourceError for a
        frame outside the size limits, before any of them is published."""
        for frame_bgr in frames_bgr:
            h, w = frame_bgr.shape[:2]
            if h * w > self.settings.max_frame_px:
                raise SourceError(f"frame {w}x{h} exceeds the limit of {self.settings.max_frame_px} pixels")
            if min(h, w) < MIN_FRAME_SIDE_PX:
                raise SourceError(f"frame {w}x{h} is below the minimum of {MIN_FRAME_SIDE_PX} pixels a side")
        if not frames_bgr:
            return
        pipe = self.redis.pipeline(transaction=True)
        for i, frame_bgr in enumerate(frames_bgr):
            h, w = frame_bgr.shape[:2]
            t = time.monotonic()
            self._fps_window = [x for x in self._fps_window if t - x < 2.0] + [t]
            queue_frame(
                pipe,
                self.camera.camera_id,
                self.seq + i,
                now_ms(),
                encode_jpeg(frame_bgr, self.settings.jpeg_quality),
                (w, h),
                mode,
                ttl_s=self.settings.frame_ttl_s,
                maxlen=self.settings.stream_maxlen,
                status={"frames": self.published + i + 1, "fps": round(len(self._fps_window) / 2.0, 2)},
            )
        pipe.execute()
        self.seq += len(frames_bgr)
        self.published += len(frames_bgr)
