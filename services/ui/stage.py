"""The ui's pure stage: what the REST API and the dashboard show for a camera. No Redis, no I/O.

A :class:`CameraView` is one camera as the ui last saw it: its registry entry, the newest ``Tracks``
message on ``emo:tracks:{cam}`` and the annotated JPEG drawn from it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from services.common import codec
from services.common.annotate import hex_colour
from services.common.labels import CANONICAL_LABELS
from services.common.schema import Frame, Track, Tracks
from services.ui.api_models import CameraOut, TrackOut

if TYPE_CHECKING:  # the registry module talks to Redis; a stage only needs the type
    from services.common.registry import Camera

M = TypeVar("M", Tracks, Frame)


@dataclass(frozen=True)
class CameraView:
    camera: Camera
    tracks: Tracks | None = None
    tracks_entry_id: str = ""  # stream id of ``tracks``: a new id means a new message to draw
    jpeg: bytes | None = None  # the latest annotated frame (kept when a newer frame key expired)
    jpeg_seq: int = -1  # seq of the frame in ``jpeg``
    seen_ms: dict[int, tuple[int, int]] = field(default_factory=dict)  # track id -> first, last captured_ms
    drawn_latency_ms: int | None = None  # now - captured_ms when the UI first saw ``tracks`` (round trip)


DWELL_GRACE_MS = 3000  # a track missing for less than this keeps its dwell time


def dwell(seen_ms: dict[int, tuple[int, int]], tracks: Tracks) -> dict[int, tuple[int, int]]:
    """track id -> (first, last) captured_ms it was seen, updated with ``tracks``; forgets tracks not
    seen for ``DWELL_GRACE_MS``. The dwell time of a visible track is ``captured_ms - first``."""
    t = tracks.captured_ms
    out = {tid: span for tid, span in seen_ms.items() if t - span[1] < DWELL_GRACE_MS}
    for track in tracks.tracks:
        first = out.get(track.track_id, (t, t))[0]
        out[track.track_id] = (first, t)
    return out


def newest(entries: Iterable[tuple[Any, Mapping[Any, Any] | None]], kind: type[M]) -> tuple[str, M] | None:
    """The newest message of ``kind`` among XREVRANGE entries (newest first), skipping others and bad ones."""
    for entry_id, fields in entries:
        if not fields:
            continue
        try:
            message = codec.decode(fields)
        except codec.SchemaError:
            continue
        if isinstance(message, kind):
            return (entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)), message
    return None


def latest_tracks(entries: Iterable[tuple[Any, Mapping[Any, Any] | None]]) -> tuple[str, Tracks] | None:
    """The newest ``Tracks`` message and its entry id."""
    return newest(entries, Tracks)


def latest_frame(entries: Iterable[tuple[Any, Mapping[Any, Any] | None]]) -> Frame | None:
    """The newest ``Frame`` reference on ``emo:frames:{cam}``."""
    found = newest(entries, Frame)
    return found[1] if found else None


def track_json(track: Track) -> TrackOut:
    return TrackOut(
        track_id=track.track_id,
        box_xyxy=track.box_xyxy,
        label=track.label,
        confidence=track.confidence,
        raw_label=track.raw_label,
        probs=dict(track.probs),
    )


#: a running live camera whose newest tracks were captured longer ago than this is stale: frames or answers
#: have stopped coming (a worker host cut off, a stage with no replica left); the dashboard says so
STALE_AFTER_MS = 5_000


def stale(camera: Camera, tracks: Tracks | None, now_ms: int) -> bool:
    """Whether ``camera`` is running live and its newest tracks are older than :data:`STALE_AFTER_MS`
    (a camera with no tracks yet is starting, not stale; a file job runs at its own pace)."""
    if camera.mode != "live" or camera.status != "running" or tracks is None:
        return False
    return now_ms - tracks.captured_ms > STALE_AFTER_MS


def camera_json(camera: Camera, tracks: Tracks | None, now_ms: int) -> CameraOut:
    """One camera as ``GET /api/cameras`` returns it; ``latency_ms`` is ``now - captured_ms``;
    ``counts`` the faces per shown label (all the aggregate identity mode sends)."""
    return CameraOut(
        name=camera.camera_id,
        uri=camera.uri,
        mode=camera.mode,
        loop=camera.loop,
        status=camera.status,
        error=camera.error,
        frames=camera.frames,
        fps=camera.fps,
        total_frames=camera.total_frames,
        seq=tracks.seq if tracks else None,
        tracks=[track_json(t) for t in tracks.tracks] if tracks else [],
        counts=tracks.label_counts() if tracks else {},
        latency_ms=max(0, now_ms - tracks.captured_ms) if tracks else None,
        stale=stale(camera, tracks, now_ms),
    )


def labels_in(tracks: Sequence[Track]) -> list[str]:
    """Canonical labels first, in their order, then any extra label a model has (e.g. contempt)."""
    extra = sorted({k for t in tracks for k in t.probs} - set(CANONICAL_LABELS))
    return [*CANONICAL_LABELS, *extra]


def dwell_s(view: CameraView, track_id: int) -> float:
    """How long the track has been visible, in seconds of capture time (0 when unknown)."""
    span = view.seen_ms.get(track_id)
    if view.tracks is None or span is None:
        return 0.0
    return round(max(0, view.tracks.captured_ms - span[0]) / 1000, 1)


def bars_payload(
    views: Iterable[CameraView], now_ms: int, shown_fps: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """What the dashboard's bars script reads: per camera its status, fps in (``fps``) and annotated
    frames shown per second (``shown_fps``), latency; per track, one (label, p, colour) per emotion."""
    shown_fps = shown_fps or {}
    cameras = []
    for view in views:
        tracks = view.tracks.tracks if view.tracks else ()
        labels = labels_in(tracks)
        cameras.append(
            {
                "name": view.camera.camera_id,
                "status": view.camera.status,
                "stale": stale(view.camera, view.tracks, now_ms),
                "fps": round(view.camera.fps, 1),
                "shown_fps": shown_fps.get(view.camera.camera_id, 0.0),
                "latency_ms": max(0, now_ms - view.tracks.captured_ms) if view.tracks else None,
                "counts": view.tracks.label_counts() if view.tracks else {},
                "tracks": [
                    {
                        "id": t.track_id,
                        "dwell_s": dwell_s(view, t.track_id),
                        "label": t.label,
                        "confidence": round(t.confidence, 3),
                        "colour": hex_colour(t.label),
                        "bars": [[lb, round(t.probs.get(lb, 0.0), 3), hex_colour(lb)] for lb in labels],
                    }
                    for t in tracks
                ],
            }
        )
    return {"cameras": cameras}


def grid_key(cameras: Iterable[Camera]) -> tuple[tuple[str, str, str], ...]:
    """What the grid depends on: it is re-rendered only when this changes."""
    return tuple((c.camera_id, c.status, c.error) for c in cameras)


def grid_html(cameras: Sequence[Camera], redis_error: str = "") -> str:
    """The camera grid: one tile per camera with its picture, name, status and error.

    The pictures come over the page's frame socket (``static/grid.js``, :mod:`services.ui.framesocket`).

    ``.emo-stats`` (fps, latency) is filled in by the bars script on every push, so the grid itself is
    re-rendered only when a camera comes, goes or changes status. ``redis_error``: shown as a banner
    above the tiles (they keep their last picture) while Redis is away."""
    banner = (
        f'<div class="emo-banner" role="alert">Redis is unavailable ({html.escape(redis_error)}); '
        "reconnecting. Pictures resume by themselves.</div>"
        if redis_error
        else ""
    )
    if not cameras:
        return banner + (
            '<div class="emo-grid emo-empty">No cameras yet: add one below or POST /api/cameras.</div>'
        )
    tiles = []
    for c in cameras:
        name = html.escape(c.camera_id)
        error = f'<span class="emo-error">{html.escape(c.error)}</span>' if c.error else ""
        tiles.append(
            f'<figure class="emo-tile" data-camera="{name}">'
            f'<img data-emo-camera="{name}" alt="camera {name}">'
            f'<figcaption><b>{name}</b> <span class="emo-status emo-status-{html.escape(c.status)}">'
            f'{html.escape(c.status)}</span> <span class="emo-stats"></span> {error}</figcaption></figure>'
        )
    return f'{banner}<div class="emo-grid">{"".join(tiles)}</div>'
