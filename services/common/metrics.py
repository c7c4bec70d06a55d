"""Prometheus metrics shared by the workers (served with ``EMOSTREAM_METRICS_PORT``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_S = Histogram(
    "emostream_stage_latency_seconds",
    "now - captured_ms when a stage writes its output",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 60),
)
MESSAGES = Counter("emostream_messages_total", "entries handled, by outcome", ["stage", "outcome"])
BATCH_SIZE = Histogram(
    "emostream_batch_size", "items per model forward pass", ["stage"], buckets=(1, 2, 4, 8, 16, 32, 64)
)
CAMERAS = Gauge("emostream_cameras", "cameras this worker reads", ["stage"])


def serve(port: int) -> None:
    if port:
        start_http_server(port)
