"""The REST API: cameras, MJPEG video, snapshots, health and metrics."""

from __future__ import annotations

import logging
from typing import Any, Literal

import redis
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from services.common import health, keys, registry
from services.ui import mjpeg
from services.ui.settings import UISettings
from services.ui.state import LiveState, now_ms
from services.ui.view import camera_json, latest_tracks

log = logging.getLogger(__name__)


class CameraIn(BaseModel):
    """Body of ``POST /api/cameras``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1-64 of letters, digits, '_', '.', '-'")
    uri: str = Field(description="rtsp://, http(s):// MJPEG, a webcam index, or a video file path")
    mode: Literal["live", "file"] = "live"
    loop: bool | None = Field(None, description="replay a file source forever (default: true for files)")
    replace: bool = Field(False, description="replace a camera of the same name instead of refusing")


def is_file_uri(uri: str) -> bool:
    """True for a local path (or file:// URI); False for a network stream or a webcam index."""
    uri = uri.strip()
    return uri.startswith("file://") or ("://" not in uri and not uri.isdigit())


def build_router(settings: UISettings, client: redis.Redis, state: LiveState) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    def healthz() -> JSONResponse:
        try:
            client.ping()
            services = health.instances(client)
        except redis.RedisError as exc:
            body = {"status": "unavailable", "redis": False, "error": str(exc)}
            return JSONResponse(body, status_code=503)
        return JSONResponse(
            {
                "status": "ok",
                "redis": True,
                "cameras": len(state.views()),
                "reader_age_ms": now_ms() - state.last_poll_ms if state.last_poll_ms else None,
                "services": services,
            }
        )

    @router.get("/api/cameras")
    def list_cameras() -> list[dict[str, Any]]:
        cameras = registry.all_cameras(client)
        pipe = client.pipeline(transaction=False)
        for c in cameras:
            pipe.xrevrange(keys.stream("tracks", c.camera_id), count=8)
        results = pipe.execute() if cameras else []
        now = now_ms()
        out = []
        for camera, entries in zip(cameras, results, strict=True):
            found = latest_tracks(entries)
            out.append(camera_json(camera, found[1] if found else None, now))
        return out

    @router.post("/api/cameras", status_code=201)
    def add_camera(body: CameraIn) -> dict[str, Any]:
        if not body.replace and registry.get(client, body.name) is not None:
            raise HTTPException(409, f"camera {body.name!r} exists; remove it first or send replace=true")
        loop = body.loop if body.loop is not None else is_file_uri(body.uri)
        try:
            camera = registry.add(client, body.name, body.uri, mode=body.mode, loop=loop)
        except registry.CameraError as exc:
            raise HTTPException(422, str(exc)) from exc
        log.info("camera added name=%s uri=%s mode=%s loop=%s", body.name, body.uri, body.mode, loop)
        return camera_json(camera, None, now_ms())

    @router.delete("/api/cameras/{name}", status_code=204)
    def remove_camera(name: str) -> Response:
        if not registry.remove(client, name):
            raise HTTPException(404, f"no camera named {name!r}")
        log.info("camera removed name=%s", name)
        return Response(status_code=204)

    @router.get("/video/{name}.mjpg")
    def video(name: str) -> StreamingResponse:
        if state.get(name) is None and registry.get(client, name) is None:
            raise HTTPException(404, f"no camera named {name!r}")
        return StreamingResponse(
            mjpeg.stream(state, name, settings.mjpeg_fps),
            media_type=mjpeg.MEDIA_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/snapshot/{name}.jpg")
    def snapshot(name: str) -> Response:
        view = state.get(name)
        if view is None or view.jpeg is None:
            raise HTTPException(404, f"no frame yet for camera {name!r}")
        return Response(view.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @router.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
