"""Prometheus metrics of the ui (served at ``GET /metrics`` with the shared ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FRAMES_DRAWN = Counter("emostream_ui_frames_drawn_total", "annotated frames drawn by the shared reader")
MJPEG_CLIENTS = Gauge("emostream_ui_mjpeg_clients", "open MJPEG streams")
MJPEG_FRAMES = Counter("emostream_ui_mjpeg_frames_total", "JPEG parts sent to MJPEG clients")
WS_CLIENTS = Gauge("emostream_ui_ws_clients", "open dashboard frame sockets")
WS_FRAMES = Counter("emostream_ui_ws_frames_total", "JPEG frames sent over dashboard frame sockets")
