"""The REST API: cameras (:mod:`~services.ui.api_cameras`), video jobs (:mod:`~services.ui.api_jobs`),
and health, events, MJPEG video, frames, snapshots and metrics (:mod:`~services.ui.api_media`).

Each route is a module-level function that takes what it needs from FastAPI dependencies
(:mod:`services.ui.deps`), and answers a typed model (:mod:`services.ui.api_models`), so the OpenAPI
schema comes from the code.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from services.ui import api_cameras, api_jobs, api_media

ROUTERS: tuple[APIRouter, ...] = (api_media.router, api_cameras.router, api_jobs.router)


def include(app: FastAPI) -> list[APIRoute]:
    """Add every REST route to ``app``; returns them (for the 405 answer, ``app.MethodNotAllowed``)."""
    for router in ROUTERS:
        app.include_router(router)
    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
