"""``create_app``: the FastAPI app with the REST API and the Gradio dashboard mounted at ``/``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.worker import redis_client
from services.ui.api import build_router
from services.ui.auth import BasicAuth
from services.ui.dashboard import build_dashboard, mount
from services.ui.events import EventLog
from services.ui.job_manager import JobManager
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


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """413 for a request body over its limit, before the body is read: at once when ``Content-Length``
    says so, else as soon as the bytes received pass it (a chunked upload). Uploads (``POST /api/jobs``,
    the dashboard's upload route) may carry ``upload_bytes``; every other body ``body_bytes``."""

    UPLOAD_PATHS = ("/api/jobs", "/gradio_api/upload", "/upload")

    def __init__(
        self, app: ASGIApp, upload_bytes: int, upload_text: str = "", body_bytes: int = 1 << 20
    ) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.upload_text = upload_text or f"{upload_bytes:,} bytes"
        self.body_bytes = body_bytes

    def limit(self, path: str) -> tuple[int, str]:
        """The limit of a body sent to ``path``, in bytes and in words."""
        if path.rstrip("/").endswith(self.UPLOAD_PATHS):
            return self.upload_bytes, f"upload too large: over the limit of {self.upload_text}"
        return self.body_bytes, f"request body too large: over the limit of {self.body_bytes:,} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, too_large = self.limit(scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not length.isdigit():
            await self.refuse(scope, receive, send, 400, "Content-Length is not a number")
            return
        if int(length) > limit:
            await self.refuse(scope, receive, send, 413, too_large)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await self.refuse(scope, receive, send, 413, too_large)

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


def create_app(settings: UISettings, client: redis.Redis | None = None) -> FastAPI:
    """Build the app; its lifespan starts and stops the shared reader (``app.state.live``) and the jobs.

    With ``settings.ui_password`` set, everything but ``/healthz`` asks for HTTP basic auth.
    """
    client = client or redis_client(settings)
    state = LiveState(client, settings.poll_hz, settings.jpeg_quality, settings.pipeline_interval_s)
    jobs = JobManager(
        client,
        settings.data_dir,
        settings.max_upload_bytes,
        stall_timeout_s=settings.job_stall_timeout_s,
        max_running=settings.max_running_jobs,
        max_kept=settings.max_kept_jobs,
    )
    webcam = WebcamHub(
        client,
        frame_ttl_s=settings.webcam_frame_ttl_s,
        maxlen=settings.stream_maxlen,
        jpeg_quality=settings.webcam_jpeg_quality,
        idle_s=settings.webcam_idle_s,
    )
    state.on_poll.append(webcam.sweep)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            state.stop()
            jobs.close()

    app = FastAPI(title="emostream", lifespan=lifespan, docs_url=None, redoc_url=None)

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
    router = build_router(settings, client, state, jobs, event_log)
    app.include_router(router)
    app.add_middleware(MethodNotAllowed, routes=[r for r in router.routes if isinstance(r, APIRoute)])
    demo = build_dashboard(
        client,
        state,
        jobs,
        webcam,
        settings.push_hz,
        event_log,
        policy=settings.source_policy(),
        sealer=settings.sealer(),
    )
    mount(app, demo, settings.host, settings.port, max_file_size=settings.max_upload_bytes)
    app.add_middleware(
        BodyLimit, upload_bytes=settings.max_upload_bytes + 64 * 1024, upload_text=jobs.limit_text()
    )
    if settings.ui_password or settings.api_token:
        app.add_middleware(
            BasicAuth, user=settings.ui_user, password=settings.ui_password, token=settings.api_token
        )
    return app
