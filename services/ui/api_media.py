"""Routes that are not REST resources: health, MJPEG video, the frames WebSocket, snapshots, events,
and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.common import health, registry
from services.ui import framesocket, mjpeg
from services.ui.api_models import EventOut, HealthOut, content, errors
from services.ui.auth import AUTHENTICATED
from services.ui.deps import UiDep
from services.ui.state import now_ms

router = APIRouter()


@router.get("/healthz", responses={200: {"model": HealthOut}, **errors()})
def healthz(request: Request, ui: UiDep) -> JSONResponse:
    """``{"status": "ok"}`` (503: ``unavailable``) to anyone; the details (services, hosts, pids,
    errors) only to a logged-in client when the dashboard has a login or token."""
    detail = getattr(request.state, AUTHENTICATED, True)
    try:
        ui.client.ping()
        services = health.instances(ui.client) if detail else {}
    except redis.RedisError as exc:
        down = (
            HealthOut(status="unavailable", redis=False, error=str(exc))
            if detail
            else HealthOut(status="unavailable")
        )
        return JSONResponse(down.model_dump(exclude_none=True), status_code=503)
    if not detail:
        return JSONResponse({"status": "ok"})
    state = ui.state
    ok = HealthOut(
        status="ok",
        redis=True,
        cameras=len(state.views()),
        reader_age_ms=now_ms() - state.last_poll_ms if state.last_poll_ms else None,
        services=services,
    )
    return JSONResponse(ok.model_dump(exclude={"error"}))


@router.get("/api/events", responses=errors())
def list_events(
    ui: UiDep,
    camera: Annotated[str | None, Query(description="only this camera's events")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="at most this many, newest first")] = 50,
) -> list[EventOut]:
    """The newest events of ``emo:events`` (docs/events.md), newest first."""
    return [EventOut.model_validate(e) for e in ui.events.latest(limit, camera)]


@router.get(
    "/video/{name}.mjpg",
    responses={**content(mjpeg.MEDIA_TYPE, "annotated frames, for ever (MJPEG)"), **errors(404)},
)
def video(name: str, ui: UiDep) -> StreamingResponse:
    if ui.state.get(name) is None and registry.get(ui.client, name) is None:
        raise HTTPException(404, f"no camera named {name!r}")
    return StreamingResponse(
        mjpeg.stream(ui.state, name, ui.settings.mjpeg_fps),
        media_type=mjpeg.MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.websocket("/ws/frames")
async def frames(ws: WebSocket, ui: UiDep) -> None:
    """Every camera's annotated frames over one socket (what the dashboard's tiles show)."""
    await framesocket.serve(ws, ui.state, ui.settings.mjpeg_fps)


@router.get(
    "/snapshot/{name}.jpg",
    responses={**content("image/jpeg", "the newest annotated frame"), **errors(404)},
)
def snapshot(name: str, ui: UiDep) -> Response:
    view = ui.state.get(name)
    if view is None or view.jpeg is None:
        raise HTTPException(404, f"no frame yet for camera {name!r}")
    return Response(view.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/metrics", responses=content(CONTENT_TYPE_LATEST, "Prometheus text format"))
def prometheus(ui: UiDep) -> Response:
    """The UI's own metrics and the pipeline's (services' counters, stage latency, group lag)."""
    body = generate_latest() + generate_latest(ui.pipeline_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
