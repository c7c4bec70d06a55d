"""Helpers shared by the UI's integration and browser tests (this module holds no tests).

:class:`FakePipeline` stands in for detector + classifier + tracker without a model: for every frame
of every registered camera it writes a ``Tracks`` message with one face box, in the order frames come;
``Skip`` and ``End`` pass through (with a tracker-like timeline document at the End; a live camera gets
the tracker's own live timeline, :class:`CameraTimeline`, written every second). It exercises
everything the UI does with real Redis data and real frames, at no CPU cost. :func:`run_ingest` runs
the real ingest service in a thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
import uvicorn

from services.common import codec, keys, registry
from services.common.schema import End, Frame, Skip, Track, Tracks
from services.ingest.service import Ingest
from services.ingest.settings import IngestSettings
from services.tracker.stage import TrackView
from services.tracker.timeline import CameraTimeline
from services.ui.app import create_app
from services.ui.server import uvicorn_config
from services.ui.settings import UISettings
from tests.support.wait import free_port, wait_for

BOX_FRACTION = (0.3, 0.2, 0.6, 0.8)  # the fake face box, as fractions of the frame's width/height
PROBS = {"happy": 0.7, "neutral": 0.2, "sad": 0.1}


class FakePipeline:
    """Frames -> Tracks (one box, ``probs``) for every camera, in a background thread."""

    def __init__(
        self,
        client: redis.Redis,
        probs: dict[str, float] | None = None,
        probs_for: Callable[[int], dict[str, float]] | None = None,
    ) -> None:
        self.redis = client
        self.probs = probs or PROBS
        self.probs_for = probs_for  # seq -> probabilities, for bars that move
        self.stop = threading.Event()
        self.frames = 0
        self._last: dict[str, bytes | str] = {}
        self._segments: dict[str, list[dict[str, object]]] = {}
        self._timelines: dict[str, CameraTimeline] = {}
        self._timeline_due: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="fake-pipeline", daemon=True)

    def __enter__(self) -> FakePipeline:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self._thread.join(5)

    def track(self, frame: Frame) -> Track:
        w, h = frame.size_wh
        fx1, fy1, fx2, fy2 = BOX_FRACTION
        probs = self.probs_for(frame.seq) if self.probs_for else self.probs
        label = max(probs, key=probs.__getitem__)
        return Track(
            track_id=1,
            box_xyxy=(w * fx1, h * fy1, w * fx2, h * fy2),
            label=label,
            confidence=probs[label],
            raw_label=label,
            probs=dict(probs),
        )

    def _run(self) -> None:
        while not self.stop.is_set():
            cams = [c.camera_id for c in registry.all_cameras(self.redis)]
            streams = {keys.stream("frames", c): self._last.get(c, "0") for c in cams}
            if not streams:
                self.stop.wait(0.05)
                continue
            reply = self.redis.xread(streams, count=64, block=50)  # type: ignore[arg-type]
            for stream, items in reply or []:
                cam = (stream.decode() if isinstance(stream, bytes) else stream).split(":", 2)[2]
                for entry_id, fields in items:
                    self._last[cam] = entry_id
                    self._forward(cam, codec.decode(fields))

    def _live_timeline(self, pipe: redis.client.Pipeline, cam: str, msg: Frame, t: Track) -> None:
        tl = self._timelines.setdefault(cam, CameraTimeline(cam))
        view = TrackView(t.track_id, t.box_xyxy, t.label, t.confidence, t.raw_label, dict(t.probs), 1, 0)
        tl.record(msg.seq, msg.captured_ms, [view])
        if msg.captured_ms >= self._timeline_due.get(cam, 0):
            self._timeline_due[cam] = msg.captured_ms + 1000
            pipe.set(keys.timeline(cam), tl.encode(), px=300_000)

    def _forward(self, cam: str, msg: object) -> None:
        out = keys.stream("tracks", cam)
        pipe = self.redis.pipeline(transaction=True)
        if isinstance(msg, Frame):
            tracks = Tracks(
                camera_id=cam,
                seq=msg.seq,
                captured_ms=msg.captured_ms,
                mode=msg.mode,
                frame_key=msg.frame_key,
                size_wh=msg.size_wh,
                tracks=(self.track(msg),),
            )
            pipe.xadd(out, codec.encode(tracks), maxlen=2000, approximate=True)  # type: ignore[arg-type]
            if msg.mode == "live":
                self._live_timeline(pipe, cam, msg, tracks.tracks[0])
            segs = self._segments.setdefault(cam, [])
            if not segs:
                segs.append({"label": tracks.tracks[0].label, "start_seq": msg.seq, "end_seq": msg.seq})
            segs[-1]["end_seq"] = msg.seq
            self.frames += 1
        elif isinstance(msg, Skip | End):
            pipe.xadd(out, codec.encode(msg), maxlen=2000, approximate=True)  # type: ignore[arg-type]
            if isinstance(msg, End):
                doc = {"camera_id": cam, "tracks": {"1": self._segments.pop(cam, [])}}
                pipe.set(keys.timeline(cam), json.dumps(doc), ex=600)
        pipe.execute()


@contextmanager
def run_ingest(redis_url: str, **settings: object) -> Iterator[Ingest]:
    """The real ingest service, in a thread, until the block ends."""
    config = IngestSettings(redis_url=redis_url, instance="test-ingest", **settings)  # type: ignore[arg-type]
    ingest = Ingest(config, client=redis.Redis.from_url(redis_url))
    thread = threading.Thread(target=ingest.run, name="ingest", daemon=True)
    thread.start()
    try:
        yield ingest
    finally:
        ingest.stop.set()
        thread.join(15)
        ingest.redis.close()


def exposed_settings(redis_url: str, data_dir: Path, password: str, token: str, **more: Any) -> UISettings:
    """A dashboard others reach (host 0.0.0.0: the source rules apply; ``serve_ui`` binds loopback) with a
    login and a token, and a 1 MB upload limit."""
    return UISettings(
        redis_url=redis_url,
        host="0.0.0.0",
        port=free_port(),
        ui_password=password,
        api_token=token,
        data_dir=data_dir,
        max_upload_mb=1,
        **more,
    )


@contextmanager
def serve_ui(settings: UISettings, client: redis.Redis) -> Iterator[str]:
    """The UI app under uvicorn on ``settings.port`` in a thread; yields its base URL."""
    config = uvicorn_config(create_app(settings, client), settings, host="127.0.0.1")  # the service's limits
    config.timeout_graceful_shutdown = 1
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), 30, "uvicorn's start")
    assert server.started, "uvicorn exited"
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        config.app.state.live.closing.set()  # open frame sockets and streams end, as on SIGTERM
        server.should_exit = True
        thread.join(10)
