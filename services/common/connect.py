"""The one place a Redis client is made: a single Redis or a Redis Cluster, TLS, ACL user.

:func:`connect` also sets the key layout (``keys.configure``): on a cluster every camera key carries its
shard's hash tag, so every process that talks to the cluster must make its client here.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster

from services.common import keys
from services.common.settings import RedisSettings


def connect(
    settings: RedisSettings | None = None,
    *,
    url: str | None = None,
    socket_timeout: float | None = 10,
    **options: Any,
) -> redis.Redis:
    """A client for ``url`` (default ``settings.redis_url``) as ``settings`` say (default: from the
    environment): ``EMOSTREAM_REDIS_CLUSTER`` gives a :class:`~redis.cluster.RedisCluster` (any node's
    URL), ``EMOSTREAM_REDIS_USERNAME``/``PASSWORD`` override the URL's, ``EMOSTREAM_REDIS_TLS_CA`` is
    the CA that signs a ``rediss://`` server's certificate."""
    settings = settings or RedisSettings()
    url = url or settings.redis_url
    keys.configure(settings.redis_shards if settings.redis_cluster else 0)
    opts: dict[str, Any] = {"socket_timeout": socket_timeout, "health_check_interval": 10, **options}
    if settings.redis_username or settings.redis_password:
        url = _without_credentials(url)  # redis-py lets the URL's win over keyword arguments
        opts["username"] = settings.redis_username or None
        opts["password"] = settings.redis_password or None
    if settings.redis_tls_ca and url.startswith("rediss://"):
        opts["ssl_ca_certs"] = settings.redis_tls_ca
    if settings.redis_cluster:
        return cast(redis.Redis, RedisCluster.from_url(url, **opts))
    return redis.Redis.from_url(url, **opts)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def mget(client: redis.Redis, names: list[str]) -> list[bytes | None]:
    """MGET of keys that may live in different cluster slots (one MGET per slot on a cluster)."""
    if isinstance(client, RedisCluster):
        return cast(list[bytes | None], client.mget_nonatomic(names))
    return cast(list[bytes | None], client.mget(names))
