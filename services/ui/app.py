"""``create_app``: the FastAPI app with the REST API and the Gradio dashboard mounted at ``/``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import redis
from fastapi import FastAPI

from services.common.worker import redis_client
from services.ui.api import build_router
from services.ui.dashboard import build_dashboard, mount
from services.ui.settings import UISettings
from services.ui.state import LiveState


def create_app(settings: UISettings, client: redis.Redis | None = None) -> FastAPI:
    """Build the app; its lifespan starts and stops the shared reader (``app.state.live``)."""
    client = client or redis_client(settings)
    state = LiveState(client, settings.poll_hz, settings.jpeg_quality)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()

    app = FastAPI(title="emostream", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.live = state
    app.state.redis = client
    app.include_router(build_router(settings, client, state))
    return mount(app, build_dashboard(client, state, settings.push_hz), settings.host, settings.port)
