"""Settings shared by every service. Each service's own ``settings.py`` subclasses this one.

All environment variables carry the ``EMOSTREAM_`` prefix, e.g. ``EMOSTREAM_REDIS_URL``.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.credentials import Sealer
from services.common.settings_check import existing_file, log_level, url_with_host

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """Where ``up`` keeps its Redis and hands its ui and ingest their data (``EMOSTREAM_DATA_DIR``)."""
    return Path.home() / ".local" / "share" / "emostream"


def default_samples_dir() -> Path:
    """Where the sample videos are fetched to and read from (``EMOSTREAM_SAMPLES_DIR``)."""
    return Path.home() / ".cache" / "emostream" / "samples"


#: settings renamed for names that say what they are, old name -> new name. The old names are read for
#: one more release, with a warning.
RENAMED = {
    "EMOSTREAM_MAX_BATCH": "EMOSTREAM_READ_COUNT",
    "EMOSTREAM_MAX_AGE": "EMOSTREAM_MAX_AGE_FRAMES",
}


def default_instance() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


#: How the model services run their nets (services/common/backend.py).
Backend = Literal["auto", "torch", "torch-bf16", "openvino"]

#: What of a face may leave the pipeline (services/common/privacy.py, docs/privacy.md).
Privacy = Literal["off", "blur"]


class RedisSettings(BaseSettings):
    """How to reach Redis (``services.common.connect``): every service's, and the CLI's for a given URL."""

    model_config = SettingsConfigDict(env_prefix="EMOSTREAM_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="the Redis every service uses (rediss://: TLS)"
    )
    redis_username: str = Field("", description="Redis ACL user (overrides the URL's; `emostream acl`)")
    redis_password: str = Field("", description="Redis password (overrides the URL's)")
    redis_cluster: bool = Field(False, description="EMOSTREAM_REDIS_URL is a node of a Redis Cluster")
    redis_shards: int = Field(
        16, ge=1, le=1024, description="cameras hash into this many key shards (Redis Cluster only)"
    )
    redis_tls_ca: str = Field("", description="CA file that signs the Redis server's TLS certificate")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value.lower().startswith("unix://"):
            return value
        return url_with_host(value, ("redis", "rediss"))

    @field_validator("redis_tls_ca")
    @classmethod
    def _tls_ca(cls, value: str) -> str:
        return existing_file(value)


class CommonSettings(RedisSettings):
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    instance: str = Field(default_factory=default_instance, description="consumer name and health key id")
    stream_maxlen: int = Field(2000, ge=10, description="MAXLEN ~ on every stream")
    live_max_age_ms: int = Field(2500, ge=100, description="a live frame older than this is dropped")
    claim_idle_ms: int = Field(30_000, ge=100, description="pending entries idle this long are reclaimed")
    max_deliveries: int = Field(3, ge=1, description="after this many deliveries an entry goes to emo:dead")
    read_count: int = Field(
        8, ge=1, description="entries read per stream per XREADGROUP (COUNT; was `MAX_BATCH`)"
    )
    max_wait_ms: int = Field(20, ge=1, description="XREADGROUP BLOCK time")
    health_ttl_s: int = Field(15, ge=2, description="TTL of the health key; --check fails after it")
    stats_interval_s: int = Field(60, ge=0, description="log a stats line this often (0: only at stop)")
    torch_threads: int = Field(
        0, ge=0, description="torch CPU threads per model service (0: cores/4, at least 1)"
    )
    metrics_port: int = Field(0, ge=0, description="serve Prometheus metrics on this port (0: off)")
    watchdog_s: int = Field(
        120, ge=0, description="a service whose loop has not advanced this long exits (0: off)"
    )
    parent_pid: int = Field(
        0, ge=0, description="set by the supervisor: the service stops when that process is gone"
    )
    source_key: str = Field(
        "", description="ui and ingest: seals camera passwords in Redis (`up` makes one; see docs/deploy.md)"
    )
    privacy: Privacy = Field(
        "off", description="blur: every face blurred in every image shown or written (docs/privacy.md)"
    )

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        return log_level(value)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """Read a setting given under its old name (:data:`RENAMED`) unless the new one is given too."""
        if not isinstance(data, dict):
            return data
        for old, new in RENAMED.items():
            field = new.removeprefix("EMOSTREAM_").lower()
            if old in os.environ and field in cls.model_fields and field not in data:
                log.warning("%s is deprecated: use %s (read this time)", old, new)
                data = {**data, field: os.environ[old]}
        return data

    def instance_for_check(self) -> str:
        """What ``--check`` looks for: this instance when ``EMOSTREAM_INSTANCE`` names it, else any
        instance of this host (``--check`` runs as another process, with another pid, in the same
        container), as a glob pattern."""
        if "instance" in self.model_fields_set:
            return self.instance
        return f"{socket.gethostname()}-*"

    def sealer(self) -> Sealer | None:
        """What seals and opens camera passwords (``EMOSTREAM_SOURCE_KEY``), or None without a key.
        Raises CredentialError when the key is not valid."""
        return Sealer(self.source_key) if self.source_key else None

    def cpu_threads(self) -> int:
        """CPU threads for one model service: several services share the cores, and on a busy 2-core
        machine two torch threads per service were measured slower than one (benchmarks/detector.py)."""
        return self.torch_threads or max(1, (os.cpu_count() or 1) // 4)
