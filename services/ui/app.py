"""``create_app``: the FastAPI app with the REST API and the Gradio dashboard mounted at ``/``."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from functools import partial

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.retention import Janitor, start_janitor
from services.common.worker import redis_client
from services.ui import api
from services.ui.auth import BasicAuth
from services.ui.body_guard import BodyGuard
from services.ui.camera_limit import CameraLimit
from services.ui.dashboard import build_dashboard, mount
from services.ui.deps import Ui
from services.ui.docs_pages import build_docs_router
from services.ui.events import EventLog
from services.ui.frame_guard import FrameGuard
from services.ui.job_manager import JobManager
from services.ui.origin import SameOrigin
from services.ui.pipeline import PipelineCollector
from services.ui.settings import UISettings
from services.ui.state import LiveState
from services.ui.webcam import WebcamHub


class MethodNotAllowed:
    """405 with ``Allow`` for a method that a REST route does not take. Without it, the dashboard mounted at
    ``/`` would answer such a request (``TRACE /api/cameras``) with its own 404."""

    def __init__(self, app: ASGIApp, routes: list[APIRoute]) -> None:
        self.app = app
        self.routes = [(r.path_regex, set(r.methods or ())) for r in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            allowed: set[str] = set().union(*(m for rx, m in self.routes if rx.match(path)))
            if allowed and method not in allowed and not (method == "HEAD" and "GET" in allowed):
                body = {"detail": f"{method} is not allowed on {path}; it takes {', '.join(sorted(allowed))}"}
                answer = JSONResponse(body, status_code=405, headers={"Allow": ", ".join(sorted(allowed))})
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def lifespan(
    settings: UISettings, state: LiveState, jobs: JobManager, _: FastAPI
) -> AsyncIterator[None]:
    """The app's background work: the shared reader, the retention janitor (when a retention is set),
    the jobs; all stopped when the app stops."""
    state.start()
    janitor_stop = threading.Event()
    if settings.retention_hours > 0:
        start_janitor(
            Janitor(state.redis, settings.retention_hours, jobs.store),
            settings.retention_check_s,
            janitor_stop,
        )
    try:
        yield
    finally:
        janitor_stop.set()
        state.stop()
        jobs.close()


def parts(settings: UISettings, client: redis.Redis) -> tuple[LiveState, JobManager, CameraLimit, WebcamHub]:
    """The app's parts as the settings say: the shared reader, the jobs, the camera limit, the webcams
    (swept after each of the reader's polls)."""
    state = LiveState(
        client, settings.poll_hz, settings.jpeg_quality, settings.pipeline_interval_s, settings.privacy
    )
    jobs = JobManager(
        client,
        settings.work_dir,
        settings.max_upload_bytes,
        stall_timeout_s=settings.job_stall_timeout_s,
        max_running=settings.max_running_jobs,
        max_kept=settings.max_kept_jobs,
        max_frame_px=settings.max_frame_px,
        privacy=settings.privacy,
    )
    limit = CameraLimit(client, settings.ui_max_cameras)
    webcam = WebcamHub(
        client,
        frame_ttl_s=settings.webcam_frame_ttl_s,
        maxlen=settings.stream_maxlen,
        jpeg_quality=settings.webcam_jpeg_quality,
        idle_s=settings.webcam_idle_s,
        max_frame_px=settings.max_frame_px,
        limit=limit,
    )
    state.on_poll.append(webcam.sweep)
    return state, jobs, limit, webcam


def create_app(settings: UISettings, client: redis.Redis | None = None) -> FastAPI:
    """Build the app; its lifespan starts and stops the shared reader (``app.state.live``) and the jobs.

    With ``settings.ui_password`` set, everything but ``/healthz`` asks for HTTP basic auth. Every route,
    Gradio's too, refuses cross-site changes (:mod:`services.ui.origin`), bounds request bodies in bytes
    and time (:mod:`services.ui.body_guard`) and checks webcam frames' headers
    (:mod:`services.ui.frame_guard`).
    """
    client = client or redis_client(settings)
    state, jobs, limit, webcam = parts(settings, client)

    app = FastAPI(
        title="emostream", lifespan=partial(lifespan, settings, state, jobs), docs_url=None, redoc_url=None
    )

    @app.exception_handler(redis.RedisError)
    async def redis_down(_: Request, exc: redis.RedisError) -> JSONResponse:
        """While Redis is away, every REST call answers 503 with the reason instead of a bare 500."""
        return JSONResponse(
            {"detail": f"redis unavailable: {exc}", "retry_after_s": 2},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    app.state.live = state
    app.state.redis = client
    app.state.jobs = jobs
    app.state.webcam = webcam
    event_log = EventLog(client)
    pipeline_metrics = CollectorRegistry(auto_describe=False)
    pipeline_metrics.register(PipelineCollector(lambda: state.pipeline))
    app.state.ui = Ui(
        settings, client, state, jobs, event_log, limit, settings.source_policy(), pipeline_metrics
    )
    rest_routes = api.include(app)
    app.include_router(build_docs_router())
    app.add_middleware(MethodNotAllowed, routes=rest_routes)
    demo = build_dashboard(
        client,
        state,
        jobs,
        webcam,
        settings.push_hz,
        event_log,
        policy=app.state.ui.policy,
        sealer=settings.sealer(),
        limit=limit,
    )
    mount(app, demo, settings.host, settings.port, max_file_size=settings.max_upload_bytes)
    guard(app, settings, jobs.limit_text())
    return app


def guard(app: FastAPI, settings: UISettings, upload_text: str) -> None:
    """The guards in front of every route, Gradio's too; outermost last: origin check, auth, body
    bounds, frame headers, then the routes."""
    app.add_middleware(FrameGuard, max_px=settings.max_frame_px)
    app.add_middleware(
        BodyGuard,
        upload_bytes=settings.max_upload_bytes + 64 * 1024,
        upload_text=upload_text,
        timeout_s=settings.body_timeout_s,
    )
    if settings.ui_password or settings.api_token:
        app.add_middleware(
            BasicAuth, user=settings.ui_user, password=settings.ui_password, token=settings.api_token
        )
    app.add_middleware(SameOrigin, allowed_origins=settings.allowed_origins(), token=settings.api_token)
