"""Ingest applies the dashboard's source policy: EMOSTREAM_SOURCE_ALLOW and the dashboard's EMOSTREAM_HOST."""

from __future__ import annotations

import pydantic
import pytest

from services.ingest.settings import IngestSettings


@pytest.fixture(autouse=True)
def no_policy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMOSTREAM_HOST", "EMOSTREAM_SOURCE_ALLOW"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "allow_all"),
    [
        ({}, False),  # not told where the dashboard listens: the rules
        ({"host": "127.0.0.1"}, True),  # `up` on loopback passes EMOSTREAM_HOST
        ({"host": "::ffff:127.0.0.1"}, True),
        ({"host": "0.0.0.0"}, False),
        ({"host": "127.0.0.1", "source_allow": "hosts=10.0.0.0/8"}, False),
        ({"host": "0.0.0.0", "source_allow": "any"}, True),
    ],
)
def test_the_policy_follows_the_dashboard(env: dict[str, str], allow_all: bool) -> None:
    settings = IngestSettings(redis_url="redis://unused", **env)  # type: ignore[arg-type]
    assert settings.source_policy().allow_all is allow_all


def test_a_bad_policy_stops_ingest_at_start_naming_the_rule() -> None:
    with pytest.raises(pydantic.ValidationError, match="'everything' is not a rule"):
        IngestSettings(redis_url="redis://unused", source_allow="everything")
