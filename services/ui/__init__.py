"""The ui service: REST API, Gradio dashboard, MJPEG and WebSocket frames, video jobs."""

import os

# Gradio reads these when it is imported (every dashboard module imports it); analytics on means DNS
# lookups at start, and no model hub is reachable
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
