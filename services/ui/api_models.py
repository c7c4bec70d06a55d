"""The REST API's response bodies, as typed models: the OpenAPI schema comes from them (``/openapi.json``;
tests/e2e/test_api_contract.py fuzzes every route against it). Pure: the ui's stage builds them. The one
request body, ``CameraIn``, is with its route (:mod:`services.ui.api_cameras`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.schema import EventKind, Mode


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


class TrackOut(BaseModel):
    """One track in the newest frame: smoothed box (input pixels), shown label and probabilities."""

    track_id: int
    box_xyxy: tuple[float, float, float, float]
    label: str = Field(description="the shown label, after hysteresis")
    confidence: float = Field(description="smoothed probability of the shown label")
    raw_label: str = Field(description="this frame's argmax")
    probs: dict[str, float]


class CameraOut(BaseModel):
    """One camera: its source, status and its newest frame's tracks."""

    name: str
    uri: str = Field(description="the source, any password masked")
    mode: Mode
    loop: bool
    status: str = Field(description="new, running, error, done or failed")
    error: str
    frames: int
    fps: float
    total_frames: int
    seq: int | None = Field(description="the newest tracked frame's seq (null: none yet)")
    tracks: list[TrackOut]
    counts: dict[str, int] = Field(description="faces per shown label in that frame")
    latency_ms: int | None = Field(description="now minus that frame's capture time")
    stale: bool = Field(
        False, description="running live, but its newest tracks are over 5 s old: frames or answers stopped"
    )


class JobOut(BaseModel):
    """A video job: its progress, and its files and summary once done."""

    id: str
    filename: str
    status: str = Field(description="queued, running, writing, done or failed")
    progress: float = Field(ge=0, le=1)
    frames_done: int
    frames_total: int
    error: str
    created_ms: int
    finished_ms: int | None
    files: dict[str, str] = Field(description="file name -> its download path")
    summary: dict[str, Any] = Field(description="summary.json once done (docs: README, analyze)")


class EventOut(BaseModel):
    """One event of ``emo:events`` (docs/events.md)."""

    model_config = ConfigDict(from_attributes=True)  # read from the msgspec Event as it is

    camera_id: str
    seq: int
    captured_ms: int
    mode: Mode
    event_id: str
    kind: EventKind
    track_id: int
    label: str
    confidence: float
    box_xyxy: tuple[float, float, float, float]
    previous: str
    dwell_s: float
    duration_s: float
    labels_s: dict[str, float]


class Bucket(BaseModel):
    t: int = Field(description="the bucket's start, epoch ms")
    counts: dict[str, int] = Field(description="faces seen per shown label")


class HistoryOut(BaseModel):
    """A camera's shown-label counts per bucket, oldest first."""

    camera_id: str
    bucket_s: int
    buckets: list[Bucket]


class HealthOut(BaseModel):
    """``/healthz``: the status to anyone; the details to a logged-in client."""

    status: Literal["ok", "unavailable"]
    redis: bool | None = None
    error: str | None = None
    cameras: int | None = None
    reader_age_ms: int | None = None
    services: dict[str, Any] | None = None
