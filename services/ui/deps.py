"""What the REST routes need, as FastAPI dependencies: one :class:`Ui` per app (``app.state.ui``, set by
``create_app``), so each route is a module-level function that asks for what it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, cast

import redis
from fastapi import Depends
from prometheus_client import CollectorRegistry
from starlette.requests import HTTPConnection

from services.common.source_policy import SourcePolicy
from services.ui.camera_limit import CameraLimit
from services.ui.events import EventLog
from services.ui.job_manager import JobManager
from services.ui.settings import UISettings
from services.ui.state import LiveState


@dataclass(frozen=True)
class Ui:
    """The app's parts the routes use."""

    settings: UISettings
    client: redis.Redis
    state: LiveState
    jobs: JobManager
    events: EventLog
    limit: CameraLimit
    policy: SourcePolicy
    pipeline_metrics: CollectorRegistry  # the pipeline's health, lag and latency as Prometheus metrics


def ui(conn: HTTPConnection) -> Ui:
    """The app's :class:`Ui` (for HTTP routes and WebSockets alike)."""
    return cast(Ui, conn.app.state.ui)


UiDep = Annotated[Ui, Depends(ui)]
