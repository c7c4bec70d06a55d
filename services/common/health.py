"""Liveness: each service instance refreshes a key with a TTL holding its counters; ``--check`` reads it."""

from __future__ import annotations

import json
from typing import Any

import redis

from services.common import keys
from services.common.connect import connect


def beat(client: redis.Redis, service: str, instance: str, ttl_s: int, stats: dict[str, Any]) -> None:
    client.set(keys.health(service, instance), json.dumps(stats, sort_keys=True), ex=ttl_s)


def clear(client: redis.Redis, service: str, instance: str) -> None:
    client.delete(keys.health(service, instance))


def instances(client: redis.Redis, service: str = "*") -> dict[str, dict[str, Any]]:
    """Live instances as ``{"service:instance": stats}``."""
    found: dict[str, dict[str, Any]] = {}
    for key in client.scan_iter(match=keys.health(service, "*"), count=200):
        raw = client.get(key)
        if raw is not None:
            name = (key.decode() if isinstance(key, bytes) else key).removeprefix("emo:health:")
            found[name] = json.loads(raw)
    return found


def check(redis_url: str, service: str, instance: str = "*") -> int:
    """Exit status for container health checks: 0 when a live health key of ``service`` whose instance
    matches ``instance`` (a name or a glob pattern) exists, else 1. Another replica's key never counts
    for this one when ``instance`` names it, so a stuck replica fails its own check."""
    try:
        client = connect(url=redis_url, socket_timeout=2, socket_connect_timeout=2)
        if not any(ch in instance for ch in "*?["):
            return 0 if client.exists(keys.health(service, instance)) else 1
        return 0 if next(client.scan_iter(match=keys.health(service, instance), count=200), None) else 1
    except redis.RedisError:
        return 1
