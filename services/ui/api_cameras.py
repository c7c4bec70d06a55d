"""REST routes of cameras: list, add, remove (and purge), timeline, history."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Annotated, Literal

import redis
from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common import keys, registry
from services.common.source_policy import SourceRefused
from services.common.sources import MAX_URI_CHARS, URI_PATTERN, SourceError, check_uri, source_loops
from services.ui import erase, history
from services.ui.api_models import Bucket, CameraOut, HistoryOut, content, errors
from services.ui.camera_limit import CameraLimitReached
from services.ui.deps import UiDep
from services.ui.stage import camera_json
from services.ui.state import now_ms


class CameraIn(BaseModel):
    """Body of ``POST /api/cameras``."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "replace": 0 is not a boolean

    # the patterns are in the schema, so a client can check before sending; the validators answer in words
    name: str = Field(
        json_schema_extra={"pattern": registry.NAME_PATTERN},
        description="1-64 of letters, digits, '_', '.', '-', starting with a letter or digit",
    )
    uri: str = Field(
        max_length=MAX_URI_CHARS,
        json_schema_extra={"pattern": URI_PATTERN},
        description="rtsp://, http(s):// MJPEG, a webcam index, or a video file path",
    )
    mode: Literal["live", "file"] = "live"
    loop: bool | None = Field(None, description="replay a file source forever (default: true for files)")
    replace: bool = Field(False, description="replace a camera of the same name instead of refusing")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return registry.validate_name(value)  # CameraError is a ValueError: a 422 naming the rule

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        try:
            return check_uri(value)
        except SourceError as exc:
            raise ValueError(str(exc)) from None  # a 422 naming the rule


log = logging.getLogger(__name__)
router = APIRouter()

PURGE_HELP = "erase everything kept of it, and have Redis rewrite its files (docs/privacy.md)"
Minutes = Annotated[float, Query(gt=0, le=7 * 24 * 60, description="how far back")]


@router.get("/api/cameras", responses=errors())
def list_cameras(ui: UiDep) -> list[CameraOut]:
    """From the shared reader (:class:`LiveState`): Redis load does not grow with API clients."""
    if ui.state.redis_error:
        raise redis.ConnectionError(ui.state.redis_error)  # answered 503 with the reason
    now = now_ms()
    return [camera_json(v.camera, v.tracks, now) for v in ui.state.views()]


@router.post("/api/cameras", status_code=201, responses=errors(400, 403, 409, 413))
def add_camera(body: CameraIn, ui: UiDep) -> CameraOut:
    if not body.replace and registry.get(ui.client, body.name) is not None:
        raise HTTPException(409, f"camera {body.name!r} exists; remove it first or send replace=true")
    try:
        ui.policy.check(body.uri)
    except SourceRefused as exc:
        raise HTTPException(403, str(exc)) from exc
    except SourceError as exc:
        raise HTTPException(400, str(exc)) from exc
    loop = body.loop if body.loop is not None else source_loops(body.uri)
    register = partial(
        registry.add, ui.client, body.name, body.uri, mode=body.mode, loop=loop, sealer=ui.settings.sealer()
    )
    try:
        camera = ui.limit.add(body.name, register)
    except CameraLimitReached as exc:
        raise HTTPException(409, str(exc)) from exc
    except registry.CameraError as exc:
        raise HTTPException(400, str(exc)) from exc
    log.info("camera added name=%s uri=%s mode=%s loop=%s", body.name, camera.uri, body.mode, loop)
    ui.state.refresh()  # the next GET /api/cameras lists it
    return camera_json(camera, None, now_ms())


@router.delete("/api/cameras/{name}", status_code=204, responses=errors(404, 502))
def remove_camera(name: str, ui: UiDep, purge: bool = Query(False, description=PURGE_HELP)) -> Response:
    """Stop and unregister the camera. With ``purge=true`` erase everything kept of it too (streams,
    frames, timelines, history, events; Redis's files rewritten), also of a camera removed before."""
    if purge:
        erase.erase_camera(ui.client, name)
    elif not registry.remove(ui.client, name):
        raise HTTPException(404, f"no camera named {name!r}")
    log.info("camera removed name=%s purged=%s", name, purge)
    ui.state.refresh()
    return Response(status_code=204)


@router.get(
    "/api/cameras/{name}/timeline",
    responses={
        **content("application/json", "the timeline JSON (docs/tracking.md, Timelines)"),
        **errors(404, 502),
    },
)
def camera_timeline(name: str, ui: UiDep) -> Response:
    """The tracker's per-track emotion timeline of the camera (JSON as the tracker writes it); a camera
    the tracker has written none for yet has an empty one."""
    raw = ui.client.get(keys.timeline(name))
    if raw is None:
        if registry.get(ui.client, name) is None:
            raise HTTPException(404, f"no camera named {name!r}")
        return JSONResponse({"camera_id": name, "version": 1, "tracks": []})
    try:
        json.loads(raw)
    except ValueError as exc:
        raise HTTPException(502, f"the timeline of {name!r} is not valid JSON") from exc
    return Response(raw, media_type="application/json")


def _known(ui: UiDep, name: str) -> None:
    if registry.get(ui.client, name) is None and not ui.client.exists(keys.history(name)):
        raise HTTPException(404, f"no camera named {name!r}")


@router.get("/api/cameras/{name}/history", responses=errors(404))
def camera_history(name: str, ui: UiDep, minutes: Minutes = 60) -> HistoryOut:
    """The camera's shown-label counts per 10 s bucket (the events service's), oldest first."""
    _known(ui, name)
    buckets = history.read(ui.client, name, minutes, now_ms())
    return HistoryOut(
        camera_id=name,
        bucket_s=history.BUCKET_MS // 1000,
        buckets=[Bucket(t=t, counts=c) for t, c in buckets],
    )


@router.get(
    "/api/cameras/{name}/history.csv",
    responses={**content("text/csv", "one row per 10 s"), **errors(404)},
)
def camera_history_csv(name: str, ui: UiDep, minutes: Minutes = 60) -> Response:
    _known(ui, name)
    body = history.to_csv(history.read(ui.client, name, minutes, now_ms()))
    headers = {"Content-Disposition": f'attachment; filename="{name}-history.csv"'}
    return Response(body, media_type="text/csv", headers=headers)
