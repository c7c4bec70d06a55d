"""Each supervised child gets only its own secrets.

A child inherits this process's environment, less every secret variable (:func:`is_secret`); then it
gets the non-secret settings the stack hands all of them, the secrets its own service reads
(:data:`OWN_SECRETS`: the dashboard's login and API token go to the ui alone, the webhook key and MQTT URL
to events alone), and its own Redis ACL user. ``EMOSTREAM_REDIS_URL`` is a secret where it carries a
password: with per-service users the children get it without one (the default user's password never
leaves the supervisor); with one shared user (an external Redis named by URL) that URL is every child's
own credential and goes to all.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

REDIS_URL = "EMOSTREAM_REDIS_URL"
#: the secret settings each service reads; every other service's child never sees them
OWN_SECRETS: dict[str, tuple[str, ...]] = {
    "ui": ("EMOSTREAM_UI_PASSWORD", "EMOSTREAM_API_TOKEN", "EMOSTREAM_SOURCE_KEY"),
    "ingest": ("EMOSTREAM_SOURCE_KEY",),
    "events": ("EMOSTREAM_WEBHOOK_SECRET", "EMOSTREAM_MQTT_URL"),
}
_SECRET_PREFIXES = ("EMOSTREAM_REDIS_PASSWORD", "EMOSTREAM_REDIS_USERNAME")


def is_secret(name: str) -> bool:
    """Whether ``name`` holds a credential: any service's own secret, a Redis user or password, or the
    Redis URL (which may carry a password)."""
    own = {n for names in OWN_SECRETS.values() for n in names}
    return name in own or name == REDIS_URL or name.startswith(_SECRET_PREFIXES)


def without_password(url: str) -> str:
    """``url`` with any user and password taken out of its authority (``redis://:pw@h:1/0`` ->
    ``redis://h:1/0``); unchanged when it has none or does not parse."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def child_env(
    service: str,
    inherited: Mapping[str, str],
    shared: Mapping[str, str],
    redis_user: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of one child of ``service``.

    Args:
        inherited: this process's environment (``os.environ``).
        shared: what the stack sets for every child (settings, and secrets that :data:`OWN_SECRETS` hands
            out only to their owner).
        redis_user: the child's own ACL user and password; with it, the Redis URL goes without a password.
    """
    env = {k: v for k, v in inherited.items() if not is_secret(k)}
    env.update({k: v for k, v in shared.items() if not is_secret(k)})
    for name in OWN_SECRETS.get(service, ()):
        value = shared.get(name, inherited.get(name))
        if value is not None:
            env[name] = value
    url = shared.get(REDIS_URL, inherited.get(REDIS_URL))
    if redis_user is not None:
        env["EMOSTREAM_REDIS_USERNAME"], env["EMOSTREAM_REDIS_PASSWORD"] = redis_user
        if url is not None:
            env[REDIS_URL] = without_password(url)
    elif url is not None:
        env[REDIS_URL] = url
        for name in ("EMOSTREAM_REDIS_USERNAME", "EMOSTREAM_REDIS_PASSWORD"):
            if name in inherited or name in shared:  # a shared user given apart from the URL
                env[name] = shared.get(name, inherited.get(name, ""))
    return env
