from __future__ import annotations

from pydantic import Field, field_validator

from services.common.settings import CommonSettings
from services.common.settings_check import url_with_host
from services.events.stage import EventsConfig


class EventsSettings(CommonSettings, EventsConfig):
    """Events settings (environment ``EMOSTREAM_<NAME>``): the event rules of :class:`EventsConfig` plus
    where the events go; docs/events.md has the payloads and topics."""

    model_config = CommonSettings.model_config

    history_keep_h: float = Field(
        48.0, gt=0, description="hours of per-camera 10 s label counts kept for the History tab"
    )
    events_maxlen: int = Field(10_000, ge=100, description="MAXLEN ~ of the emo:events stream")
    lease_ms: int = Field(
        10_000, ge=500, description="camera lease TTL: a dead events replica's cameras move on"
    )
    webhook_url: str = Field(
        "", description="POST every event as JSON here; several URLs separated by spaces or commas"
    )
    webhook_secret: str = Field("", description="HMAC-SHA256 key of the X-Emostream-Signature header")
    webhook_timeout_s: float = Field(5.0, gt=0, description="a webhook POST that takes longer has failed")
    webhook_attempts: int = Field(6, ge=1, description="attempts per event before it is dead-lettered")
    webhook_backoff_s: float = Field(0.5, gt=0, description="wait before the 2nd attempt, doubling each time")
    mqtt_url: str = Field(
        "", description="mqtt://[user:password@]host[:port]: publish events and state there"
    )
    mqtt_prefix: str = Field("emostream", description="MQTT topics are PREFIX/<camera>/events and /state")
    mqtt_discovery: bool = Field(False, description="publish Home Assistant MQTT discovery for each camera")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_urls(cls, value: str) -> str:
        for url in value.replace(",", " ").split():
            url_with_host(url, ("http", "https"))
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        return url_with_host(value, ("mqtt", "tcp")) if value else value

    def webhook_urls(self) -> list[str]:
        return [u for u in self.webhook_url.replace(",", " ").split() if u]
