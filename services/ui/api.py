"""The REST API: cameras, video jobs, MJPEG video, snapshots, timelines, health and metrics."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any, Literal

import redis
from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import UploadFile

from services.common import health, keys, registry
from services.common.source_policy import SourceRefused
from services.common.sources import MAX_URI_CHARS, URI_PATTERN, SourceError, check_uri, source_loops
from services.ui import erase, framesocket, history, mjpeg
from services.ui.auth import AUTHENTICATED
from services.ui.camera_limit import CameraLimit, CameraLimitReached
from services.ui.events import EventLog, event_json
from services.ui.job_manager import FILES, JobManager, UploadError
from services.ui.pipeline import PipelineCollector
from services.ui.settings import UISettings
from services.ui.stage import camera_json
from services.ui.state import LiveState, now_ms

log = logging.getLogger(__name__)

PURGE_HELP = "erase everything kept of it, and have Redis rewrite its files (docs/privacy.md)"


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


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, in words."""

    detail: str


_WHY = {
    400: "the request is well formed but refused (the reason is in detail)",
    401: "login required: HTTP basic auth, or a bearer token (EMOSTREAM_API_TOKEN)",
    403: "refused: a cross-site request, or a camera source that EMOSTREAM_SOURCE_ALLOW refuses (detail"
    " names the rule)",
    404: "no such camera, job or file",
    409: "a camera of that name exists, the camera limit (EMOSTREAM_UI_MAX_CAMERAS) is reached, or the job"
    " is still running",
    413: "the body (or upload) is over the size limit",
    415: "the upload is not a video that can be read",
    422: "the request is not what the route takes",
    502: "what Redis holds for it is not valid, or Redis did not rewrite its files after a purge",
    503: "Redis is unavailable (retry after Retry-After seconds)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these error codes (503 on every route: Redis may be away)."""
    return {code: {"model": ErrorBody, "description": _WHY[code]} for code in sorted({*codes, 503})}


def content(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 answer that is not JSON, declared with its media type."""
    return {200: {"description": description, "content": {media_type: {}}}}


def build_router(
    settings: UISettings,
    client: redis.Redis,
    state: LiveState,
    jobs: JobManager,
    event_log: EventLog | None = None,
    limit: CameraLimit | None = None,
) -> APIRouter:
    """``limit``: new cameras must fit it (:mod:`services.ui.camera_limit`; None: no limit)."""
    router = APIRouter()
    cameras_limit = limit or CameraLimit(client, 0)
    policy = settings.source_policy()
    pipeline_registry = CollectorRegistry(auto_describe=False)
    pipeline_registry.register(PipelineCollector(lambda: state.pipeline))

    @router.get("/healthz", responses=errors())
    def healthz(request: Request) -> JSONResponse:
        """``{"status": "ok"}`` (503: ``unavailable``) to anyone; the details (services, hosts, pids,
        errors) only to a logged-in client when the dashboard has a login or token."""
        detail = getattr(request.state, AUTHENTICATED, True)
        try:
            client.ping()
            services = health.instances(client) if detail else {}
        except redis.RedisError as exc:
            body = {"status": "unavailable", "redis": False, "error": str(exc)}
            return JSONResponse(body if detail else {"status": "unavailable"}, status_code=503)
        if not detail:
            return JSONResponse({"status": "ok"})
        return JSONResponse(
            {
                "status": "ok",
                "redis": True,
                "cameras": len(state.views()),
                "reader_age_ms": now_ms() - state.last_poll_ms if state.last_poll_ms else None,
                "services": services,
            }
        )

    @router.get("/api/cameras", responses=errors())
    def list_cameras() -> list[dict[str, Any]]:
        """From the shared reader (:class:`LiveState`): Redis load does not grow with API clients."""
        if state.redis_error:
            raise redis.ConnectionError(state.redis_error)  # answered 503 with the reason
        now = now_ms()
        return [camera_json(v.camera, v.tracks, now) for v in state.views()]

    @router.post("/api/cameras", status_code=201, responses=errors(400, 403, 409, 413))
    def add_camera(body: CameraIn) -> dict[str, Any]:
        if not body.replace and registry.get(client, body.name) is not None:
            raise HTTPException(409, f"camera {body.name!r} exists; remove it first or send replace=true")
        try:
            policy.check(body.uri)
        except SourceRefused as exc:
            raise HTTPException(403, str(exc)) from exc
        except SourceError as exc:
            raise HTTPException(400, str(exc)) from exc
        loop = body.loop if body.loop is not None else source_loops(body.uri)
        register = partial(
            registry.add, client, body.name, body.uri, mode=body.mode, loop=loop, sealer=settings.sealer()
        )
        try:
            camera = cameras_limit.add(body.name, register)
        except CameraLimitReached as exc:
            raise HTTPException(409, str(exc)) from exc
        except registry.CameraError as exc:
            raise HTTPException(400, str(exc)) from exc
        log.info("camera added name=%s uri=%s mode=%s loop=%s", body.name, camera.uri, body.mode, loop)
        state.refresh()  # the next GET /api/cameras lists it
        return camera_json(camera, None, now_ms())

    @router.delete("/api/cameras/{name}", status_code=204, responses=errors(404, 502))
    def remove_camera(name: str, purge: bool = Query(False, description=PURGE_HELP)) -> Response:
        """Stop and unregister the camera. With ``purge=true`` erase everything kept of it too (streams,
        frames, timelines, history, events; Redis's files rewritten), also of a camera removed before."""
        if purge:
            erase.erase_camera(client, name)
        elif not registry.remove(client, name):
            raise HTTPException(404, f"no camera named {name!r}")
        log.info("camera removed name=%s purged=%s", name, purge)
        state.refresh()
        return Response(status_code=204)

    @router.get(
        "/api/cameras/{name}/timeline",
        responses={
            **content("application/json", "the timeline JSON (docs/tracking.md, Timelines)"),
            **errors(404, 502),
        },
    )
    def camera_timeline(name: str) -> Response:
        """The tracker's per-track emotion timeline of the camera (JSON as the tracker writes it); a camera
        the tracker has written none for yet has an empty one."""
        raw = client.get(keys.timeline(name))
        if raw is None:
            if registry.get(client, name) is None:
                raise HTTPException(404, f"no camera named {name!r}")
            return JSONResponse({"camera_id": name, "version": 1, "tracks": []})
        try:
            json.loads(raw)
        except ValueError as exc:
            raise HTTPException(502, f"the timeline of {name!r} is not valid JSON") from exc
        return Response(raw, media_type="application/json")

    events = event_log or EventLog(client)

    @router.get("/api/events", responses=errors())
    def list_events(
        camera: str | None = Query(None, description="only this camera's events"),
        limit: int = Query(50, ge=1, le=500, description="at most this many, newest first"),
    ) -> list[dict[str, Any]]:
        """The newest events of ``emo:events`` (docs/events.md), newest first."""
        return [event_json(e) for e in events.latest(limit, camera)]

    def _known(name: str) -> None:
        if registry.get(client, name) is None and not client.exists(keys.history(name)):
            raise HTTPException(404, f"no camera named {name!r}")

    @router.get("/api/cameras/{name}/history", responses=errors(404))
    def camera_history(
        name: str, minutes: float = Query(60, gt=0, le=7 * 24 * 60, description="how far back")
    ) -> dict[str, Any]:
        """The camera's shown-label counts per 10 s bucket (the events service's), oldest first."""
        _known(name)
        buckets = history.read(client, name, minutes, now_ms())
        return {
            "camera_id": name,
            "bucket_s": history.BUCKET_MS // 1000,
            "buckets": [{"t": t, "counts": c} for t, c in buckets],
        }

    @router.get(
        "/api/cameras/{name}/history.csv",
        responses={**content("text/csv", "one row per 10 s"), **errors(404)},
    )
    def camera_history_csv(
        name: str, minutes: float = Query(60, gt=0, le=7 * 24 * 60, description="how far back")
    ) -> Response:
        _known(name)
        body = history.to_csv(history.read(client, name, minutes, now_ms()))
        headers = {"Content-Disposition": f'attachment; filename="{name}-history.csv"'}
        return Response(body, media_type="text/csv", headers=headers)

    @router.post(
        "/api/jobs",
        status_code=202,
        responses=errors(400, 413, 415, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                            "required": ["file"],
                        }
                    }
                },
            }
        },
    )
    async def create_job(request: Request) -> dict[str, Any]:
        """Multipart upload (field ``file``) of a video -> a file job; refused past the size limit (413)
        or when it is not a readable video (415)."""
        # (a body over the upload limit was refused before it was read: body_guard.BodyGuard)
        form = await request.form(max_files=1, max_fields=4)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "send the video as multipart/form-data in a field named 'file'")
            # Starlette has spooled the part to a temporary file; save_upload copies it, counting bytes.
            chunks = iter(lambda: upload.file.read(1 << 20), b"")
            job = await run_in_threadpool(jobs.save_upload, upload.filename or "video", chunks)
        except UploadError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        finally:
            await form.close()
        jobs.start(job)
        return {"id": job.id, **job.json()}

    @router.get("/api/jobs", responses=errors())
    def list_jobs() -> list[dict[str, Any]]:
        return [job.json() for job in jobs.all()]

    @router.get("/api/jobs/{job_id}", responses=errors(404))
    def get_job(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job.json()

    @router.delete("/api/jobs/{job_id}", status_code=204, responses=errors(404, 409, 502))
    def delete_job(job_id: str, purge: bool = Query(False, description=PURGE_HELP)) -> Response:
        """Delete a finished job: its record, upload and outputs. With ``purge=true`` everything of its
        camera in Redis too, and Redis's files rewritten."""
        erase.erase_job(jobs.store, job_id, purge)
        return Response(status_code=204)

    @router.get(
        "/api/jobs/{job_id}/files/{name}",
        responses={
            200: {
                "description": "the file",
                "content": {media: {} for media in sorted(set(FILES.values()))},
            },
            **errors(404),
        },
    )
    def job_file(job_id: str, name: str) -> FileResponse:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        if name not in FILES:
            raise HTTPException(404, f"no file {name!r}: jobs have {', '.join(FILES)}")
        if name not in job.files():
            raise HTTPException(404, f"job {job_id} has no {name} (status {job.status})")
        return FileResponse(job.out_dir / name, media_type=FILES[name], filename=name)

    @router.get(
        "/video/{name}.mjpg",
        responses={**content(mjpeg.MEDIA_TYPE, "annotated frames, for ever (MJPEG)"), **errors(404)},
    )
    def video(name: str) -> StreamingResponse:
        if state.get(name) is None and registry.get(client, name) is None:
            raise HTTPException(404, f"no camera named {name!r}")
        return StreamingResponse(
            mjpeg.stream(state, name, settings.mjpeg_fps),
            media_type=mjpeg.MEDIA_TYPE,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.websocket("/ws/frames")
    async def frames(ws: WebSocket) -> None:
        """Every camera's annotated frames over one socket (what the dashboard's tiles show)."""
        await framesocket.serve(ws, state, settings.mjpeg_fps)

    @router.get(
        "/snapshot/{name}.jpg",
        responses={**content("image/jpeg", "the newest annotated frame"), **errors(404)},
    )
    def snapshot(name: str) -> Response:
        view = state.get(name)
        if view is None or view.jpeg is None:
            raise HTTPException(404, f"no frame yet for camera {name!r}")
        return Response(view.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @router.get("/metrics", responses=content(CONTENT_TYPE_LATEST, "Prometheus text format"))
    def prometheus() -> Response:
        """The UI's own metrics and the pipeline's (services' counters, stage latency, group lag)."""
        body = generate_latest() + generate_latest(pipeline_registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
