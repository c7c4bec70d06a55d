"""The dashboard's live event log: the newest events of ``emo:events`` (the events service), read once
a second for every browser and API client together."""

from __future__ import annotations

import html
import threading
import time
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
import redis

from services.common import codec, keys
from services.common.schema import Event

SCAN = 500  # newest stream entries looked at per read


def _entry_order(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")
    return int(ms), int(seq or 0)


class EventLog:
    """A one-second cache of the newest ``SCAN`` events, newest first."""

    def __init__(self, client: redis.Redis, ttl_s: float = 1.0) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._at = 0.0
        self._events: list[Event] = []

    def _read(self) -> list[Event]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl_s:
                out = []
                newest = sorted(  # the newest SCAN of every events stream (one per shard on a cluster)
                    (
                        item
                        for stream in keys.events_streams()
                        for item in self.client.xrevrange(stream, count=SCAN) or []
                    ),
                    key=lambda item: _entry_order(item[0] or b"0"),
                    reverse=True,
                )[:SCAN]
                for _, fields in newest:
                    try:
                        event = codec.decode(fields or {})
                    except codec.SchemaError:
                        continue  # not ours to show; the events service dead-letters nothing here
                    if isinstance(event, Event):
                        out.append(event)
                self._events, self._at = out, time.monotonic()
            return self._events

    def latest(self, limit: int = 50, camera: str | None = None) -> list[Event]:
        """The newest ``limit`` events (of ``camera``, or of every camera), newest first."""
        return [e for e in self._read() if camera is None or e.camera_id == camera][:limit]


def event_json(event: Event) -> dict[str, Any]:
    return cast(dict[str, Any], msgspec.to_builtins(event))  # a Struct's builtins are a dict


def _what(e: Event) -> str:
    if e.kind == "label_changed":
        return f"{e.previous} → {e.label} (after {e.dwell_s:g} s)"
    if e.kind == "label_held":
        return f"{e.label} for {e.dwell_s:g} s"
    if e.kind == "track_ended":
        return f"after {e.duration_s:g} s, mostly {e.label}"
    return e.label


def events_html(events: list[Event]) -> str:
    """The log as a table: capture time, camera, track, event, what happened."""
    if not events:
        return '<div class="emo-events emo-muted">No events yet (the events service writes them).</div>'
    rows = "".join(
        f'<tr data-emo-event="{html.escape(e.event_id)}">'
        f"<td>{datetime.fromtimestamp(e.captured_ms / 1000, UTC).strftime('%H:%M:%S')}</td>"
        f"<td>{html.escape(e.camera_id)}</td><td>{e.track_id}</td>"
        f"<td>{e.kind.replace('_', ' ')}</td><td>{html.escape(_what(e))}</td></tr>"
        for e in events
    )
    return (
        '<table class="emo-events"><thead><tr><th>time (UTC)</th><th>camera</th><th>track</th>'
        f"<th>event</th><th>what</th></tr></thead><tbody>{rows}</tbody></table>"
    )
