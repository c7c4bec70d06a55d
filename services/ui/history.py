"""The History tab: how a camera's room felt over the last 5 minutes, hour or day.

The events service keeps, per camera, one member per 10 s bucket in the sorted set ``keys.history(cam)``
(score: the bucket's start in ms; member: ``{"t", "counts"}``, faces seen per shown label), for
``EMOSTREAM_HISTORY_KEEP_H`` hours. Here they become a stacked area chart of the share of each label
(SVG, at most :data:`POINTS` points: buckets are summed into wider ones for long ranges), a strip per
track from the camera's live timeline, and CSV.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from services.common import keys
from services.common.annotate import COLOURS_BGR, hex_colour

BUCKET_MS = 10_000
POINTS = 120
RANGES = {"5 minutes": 5, "1 hour": 60, "24 hours": 24 * 60}  # label -> minutes
W, H, LEFT, TOP = 900, 260, 50, 10
Bucket = tuple[int, dict[str, int]]


def read(client: redis.Redis, camera_id: str, minutes: float, now_ms: int) -> list[Bucket]:
    """The camera's buckets of the last ``minutes``, oldest first; malformed members are skipped."""
    raw = client.zrangebyscore(keys.history(camera_id), now_ms - minutes * 60_000, "+inf")
    out: list[Bucket] = []
    for member in raw or []:
        try:
            doc = json.loads(member)  # type: ignore[arg-type]  # redis-py types a reply member as Any-ish ResponseT; it is bytes
            out.append((int(doc["t"]), {str(k): int(v) for k, v in doc["counts"].items()}))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def resample(buckets: Sequence[Bucket], start_ms: int, end_ms: int, points: int = POINTS) -> list[Bucket]:
    """The buckets summed into ``points`` equal spans (at least 10 s each) from ``start_ms`` to ``end_ms``."""
    span = max(BUCKET_MS, -(-(end_ms - start_ms) // points) // BUCKET_MS * BUCKET_MS)
    n = max(1, -(-(end_ms - start_ms) // span))
    out: list[Bucket] = [(start_ms + i * span, {}) for i in range(n)]
    for t, counts in buckets:
        i = (t - start_ms) // span
        if 0 <= i < n:
            for label, c in counts.items():
                out[i][1][label] = out[i][1].get(label, 0) + c
    return out


def shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def chart_svg(points: Sequence[Bucket], start_ms: int, end_ms: int) -> str:
    """A stacked area chart of each label's share per point; a label is drawn where it was shown."""
    labels = [lb for lb in COLOURS_BGR if any(lb in c for _, c in points)]
    pw, ph = W - LEFT - 10, H - TOP - 30
    dx = pw / max(1, len(points))

    def x(i: float) -> float:
        return LEFT + i * dx

    layers = []
    base = [0.0] * len(points)
    for label in labels:
        top = [base[i] + shares(c).get(label, 0.0) for i, (_, c) in enumerate(points)]
        polys = []
        run: list[int] = []
        for i, (_, c) in enumerate([*points, (0, {})]):
            if c.get(label) and i < len(points):  # runs of points where the label was shown
                run.append(i)
                continue
            if run:
                upper = [
                    f"{x(j):.1f},{TOP + ph * (1 - top[j]):.1f} {x(j + 1):.1f},{TOP + ph * (1 - top[j]):.1f}"
                    for j in run
                ]
                lower = [
                    f"{x(j + 1):.1f},{TOP + ph * (1 - base[j]):.1f} {x(j):.1f},{TOP + ph * (1 - base[j]):.1f}"
                    for j in reversed(run)
                ]
                polys.append(f'<polygon points="{" ".join(upper + lower)}" />')
                run = []
        layers.append(
            f'<g class="emo-area" data-label="{label}" fill="{hex_colour(label)}">{"".join(polys)}</g>'
        )
        base = top
    ticks = "".join(
        f'<text x="{LEFT - 6}" y="{TOP + ph * (1 - f) + 4:.1f}" text-anchor="end">{round(f * 100)}%</text>'
        for f in (0, 0.5, 1)
    )
    times = "".join(
        f'<text x="{x(i):.1f}" y="{H - 8}" text-anchor="middle">{_clock(t, end_ms - start_ms)}</text>'
        for i, (t, _) in enumerate(points)
        if i % max(1, len(points) // 6) == 0
    )
    legend = " ".join(
        f'<span class="emo-legend"><i style="background:{hex_colour(lb)}"></i>{lb}</span>' for lb in labels
    )
    empty = (
        "" if labels else f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no faces in this range</text>'
    )
    return (
        f'<svg class="emo-history" viewBox="0 0 {W} {H}" width="100%" role="img" '
        f'data-points="{len(points)}" data-from="{start_ms}" data-to="{end_ms}">'
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#8886" />'
        f'{"".join(layers)}<g class="emo-axis" font-size="11" fill="currentColor">{ticks}{times}</g>'
        f"{empty}</svg>"
        f'<div class="emo-legends">{legend}</div>'
    )


def strips_svg(timeline: dict[str, Any] | None, start_ms: int, end_ms: int) -> str:
    """One strip per track of the camera's live timeline: its shown labels over the range."""
    tracks = (timeline or {}).get("tracks", [])
    if not isinstance(tracks, list):
        tracks = []  # not the tracker's timeline document: nothing to draw
    rows = []
    pw = W - LEFT - 10
    span = max(1, end_ms - start_ms)
    for r, track in enumerate(tracks):
        y = r * 18
        rects = []
        for seg in track.get("segments", []):
            a, b = max(seg["start_ms"], start_ms), min(seg["end_ms"], end_ms)
            if b < a:
                continue
            x0 = LEFT + pw * (a - start_ms) / span
            w = max(1.0, pw * (b - a) / span)
            rects.append(
                f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="14" fill="{hex_colour(seg["label"])}">'
                f"<title>{html.escape(seg['label'])}</title></rect>"
            )
        tid = int(track["track_id"])
        label = f'<text x="{LEFT - 6}" y="{y + 11}" text-anchor="end" font-size="11">#{tid}</text>'
        rows.append(f'<g class="emo-strip" data-track="{tid}">{label}{"".join(rects)}</g>')
    if not rows:
        return '<div class="emo-muted">No tracks in the live timeline (it keeps the last minutes).</div>'
    return f'<svg class="emo-strips" viewBox="0 0 {W} {18 * len(rows)}" width="100%">{"".join(rows)}</svg>'


def to_csv(buckets: Sequence[Bucket]) -> str:
    """``bucket_start_utc,bucket_start_ms,faces,<label>...`` one row per 10 s bucket."""
    labels = [lb for lb in COLOURS_BGR if any(lb in c for _, c in buckets)]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["bucket_start_utc", "bucket_start_ms", "faces", *labels])
    for t, counts in buckets:
        iso = datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="seconds")
        w.writerow([iso, t, sum(counts.values()), *(counts.get(lb, 0) for lb in labels)])
    return buf.getvalue()


def _clock(ms: int, span_ms: int) -> str:
    """UTC clock time of a tick: with seconds when the whole range is 10 minutes or less."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S" if span_ms <= 600_000 else "%H:%M")
