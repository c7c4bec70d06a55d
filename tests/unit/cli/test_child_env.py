"""Each child of the supervisor gets its own secrets and no one else's."""

from __future__ import annotations

import pytest

from services.cli.child_env import child_env, without_password

INHERITED = {
    "PATH": "/usr/bin",
    "EMOSTREAM_UI_PASSWORD": "ui-pw",
    "EMOSTREAM_API_TOKEN": "api-tok",
    "EMOSTREAM_WEBHOOK_SECRET": "hook-key",
    "EMOSTREAM_REDIS_PASSWORD_DETECTOR": "other-users-pw",
}
SHARED = {
    "EMOSTREAM_REDIS_URL": "redis://:default-pw@127.0.0.1:7000/0",
    "EMOSTREAM_SOURCE_KEY": "k",
    "EMOSTREAM_PORT": "1",
}
SECRETS = ("ui-pw", "api-tok", "hook-key", "other-users-pw", "default-pw", "k")


@pytest.mark.parametrize(
    ("service", "own"),
    [
        ("ui", {"ui-pw", "api-tok", "k"}),
        ("ingest", {"k"}),
        ("events", {"hook-key"}),
        ("detector", set()),
        ("classifier", set()),
        ("tracker", set()),
    ],
)
def test_a_child_holds_only_its_own_secrets(service: str, own: set[str]) -> None:
    env = child_env(service, INHERITED, SHARED, redis_user=(service, f"{service}-pw"))
    values = set(env.values())
    assert {s for s in SECRETS if s in values} == own
    assert not any("default-pw" in v for v in values)
    assert env["EMOSTREAM_REDIS_URL"] == "redis://127.0.0.1:7000/0"
    assert (env["EMOSTREAM_REDIS_USERNAME"], env["EMOSTREAM_REDIS_PASSWORD"]) == (service, f"{service}-pw")
    assert env["PATH"] == "/usr/bin" and env["EMOSTREAM_PORT"] == "1"


def test_without_acl_users_the_shared_url_is_every_childs_credential() -> None:
    env = child_env("detector", INHERITED, {"EMOSTREAM_REDIS_URL": "redis://:shared@h:1/0"})
    assert env["EMOSTREAM_REDIS_URL"] == "redis://:shared@h:1/0"
    assert "ui-pw" not in env.values()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://user:pw@h:1/2", "rediss://h:1/2"),
        ("redis://h:1/0", "redis://h:1/0"),
    ],
)
def test_without_password(url: str, expected: str) -> None:
    assert without_password(url) == expected
