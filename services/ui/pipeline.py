"""What the health panel and ``/metrics`` say about the pipeline: services, stage latency, lag, drops.

:func:`read` takes one snapshot from Redis (the services' health keys, the newest entry of each stage
stream, the consumer groups' backlog); the UI's shared reader refreshes it every few seconds, so the
panel and Prometheus scrapes never multiply Redis reads.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.common import codec, health, keys
from services.common.registry import Camera
from services.common.streams import backlog

LAG_LIMIT = 10_000  # backlog is counted up to this many entries


@dataclass(frozen=True)
class Snapshot:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)  # "service:instance" -> counters
    latency_ms: dict[str, dict[str, int]] = field(default_factory=dict)  # camera -> stage -> ms
    lag: dict[str, dict[str, int]] = field(default_factory=dict)  # camera -> consumer group -> entries
    read_ms: int = 0


def entry_ms(entry_id: bytes | str) -> int:
    """The server time (epoch ms) at which a stream entry was added: the first part of its id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def read(client: redis.Redis, cameras: Sequence[Camera], now_ms: int) -> Snapshot:
    """One snapshot. Stage latency is (time the stage wrote its newest entry) - captured_ms."""
    services = health.instances(client)
    pipe = client.pipeline(transaction=False)
    for cam in cameras:
        for stage in keys.STREAM_KINDS:
            pipe.xrevrange(keys.stream(stage, cam.camera_id), count=1)
    newest = pipe.execute() if cameras else []
    latency: dict[str, dict[str, int]] = {}
    lag: dict[str, dict[str, int]] = {}
    for i, cam in enumerate(cameras):
        per_stage: dict[str, int] = {}
        for j, stage in enumerate(keys.STREAM_KINDS):
            entries = newest[i * len(keys.STREAM_KINDS) + j]
            if not entries:
                continue
            entry_id, fields = entries[0]
            try:
                captured = codec.decode(fields).captured_ms
            except codec.SchemaError:
                continue
            if now_ms - captured < 60_000:  # an old entry says nothing about the pipeline now
                per_stage[stage] = max(0, entry_ms(entry_id) - captured)
        latency[cam.camera_id] = per_stage
        lag[cam.camera_id] = {
            group: backlog(client, keys.stream(stage, cam.camera_id), group, LAG_LIMIT)
            for stage, group in keys.GROUPS.values()
        }
    return Snapshot(services, latency, lag, now_ms)


def numeric(stats: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in stats.items() if isinstance(v, int | float) and not isinstance(v, bool)}


class PipelineCollector(Collector):
    """Prometheus view of the newest :class:`Snapshot` (``get`` returns it)."""

    def __init__(self, get: Any) -> None:
        self.get = get

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap: Snapshot = self.get()
        up = GaugeMetricFamily(
            "emostream_service_up", "1 per live service instance", labels=["service", "instance"]
        )
        stat = GaugeMetricFamily(
            "emostream_service_stat",
            "counters from each service instance's health key",
            labels=["service", "instance", "stat"],
        )
        for name, stats in sorted(snap.services.items()):
            service, _, instance = name.partition(":")
            up.add_metric([service, instance], 1)
            for key, value in sorted(numeric(stats).items()):
                stat.add_metric([service, instance, key], value)
        latency = GaugeMetricFamily(
            "emostream_pipeline_latency_ms",
            "now-of-write minus captured_ms of the newest entry of each stage stream",
            labels=["camera", "stage"],
        )
        for cam, stages in sorted(snap.latency_ms.items()):
            for stage, ms in stages.items():
                latency.add_metric([cam, stage], ms)
        lag = GaugeMetricFamily(
            "emostream_group_lag", "entries a consumer group has not finished", labels=["camera", "group"]
        )
        for cam, groups in sorted(snap.lag.items()):
            for group, n in groups.items():
                lag.add_metric([cam, group], n)
        yield from (up, stat, latency, lag)


def table(head: str, rows: list[str]) -> str:
    return f'<table class="emo-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


STAT_COLUMNS = ("cameras", "processed", "dropped", "out", "dead", "reclaimed", "frames", "drawn")


def panel_html(snap: Snapshot) -> str:
    """The health panel: one row per service instance, one row per camera (stage latency, lag)."""
    if not snap.read_ms:
        return '<div class="emo-health">reading the pipeline ...</div>'
    rows = []
    for name, stats in sorted(snap.services.items()):
        service, _, instance = name.partition(":")
        nums = numeric(stats)
        cells = "".join(f"<td>{int(nums[c]) if c in nums else ''}</td>" for c in STAT_COLUMNS)
        rows.append(
            f'<tr data-service="{html.escape(service)}"><td><span class="emo-dot emo-ok"></span>'
            f"{html.escape(service)}</td><td>{html.escape(instance)}</td>{cells}</tr>"
        )
    if not rows:
        rows.append(f'<tr><td colspan="{2 + len(STAT_COLUMNS)}">no service is reporting health</td></tr>')
    head = "".join(f"<th>{c}</th>" for c in ("service", "instance", *STAT_COLUMNS))
    services = table(head, rows)
    cam_rows = []
    groups = [g for _, g in keys.GROUPS.values()]
    for cam in sorted(snap.lag):
        lat = snap.latency_ms.get(cam, {})
        lat_cells = "".join(f"<td>{lat[s]} ms</td>" if s in lat else "<td>-</td>" for s in keys.STREAM_KINDS)
        lag_cells = "".join(f"<td>{snap.lag[cam].get(g, 0)}</td>" for g in groups)
        cam_rows.append(
            f'<tr data-camera="{html.escape(cam)}"><td>{html.escape(cam)}</td>{lat_cells}{lag_cells}</tr>'
        )
    if not cam_rows:
        cam_rows.append(f'<tr><td colspan="{1 + len(keys.STREAM_KINDS) + len(groups)}">no cameras</td></tr>')
    cam_head = "".join(
        [
            "<th>camera</th>",
            *(f"<th>latency: {s}</th>" for s in keys.STREAM_KINDS),
            *(f"<th>lag: {g}</th>" for g in groups),
        ]
    )
    cameras = table(cam_head, cam_rows)
    return f'<div class="emo-health"><h4>Services</h4>{services}<h4>Cameras</h4>{cameras}</div>'
