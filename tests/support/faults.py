"""What the fault tests share: a camera's published tracks as they read them, and :func:`report`, what a
fault measured, for ``benchmarks/partitions.py``: printed, and with ``EMOSTREAM_PARTITIONS_JSON`` set,
appended to that file as one JSON line per fault."""

from __future__ import annotations

import json
import os

import redis

from services.common import codec, keys
from services.common.schema import Tracks


def tracks_entries(client: redis.Redis, camera: str) -> list[tuple[str, int]]:
    """(stream id, seq) of every Tracks message of ``camera``'s tracks stream, in stream order."""
    out = []
    for eid, fields in client.xrange(keys.stream("tracks", camera)) or []:
        if fields and isinstance(m := codec.decode(fields), Tracks):
            out.append((eid.decode() if isinstance(eid, bytes) else eid, m.seq))
    return out


def report(fault: str, text: str, **numbers: float) -> None:
    """Print ``text`` under ``fault``'s name; append ``numbers`` (rounded) where the benchmark asks."""
    print(f"{fault}: {text}")
    if path := os.environ.get("EMOSTREAM_PARTITIONS_JSON"):
        with open(path, "a") as fh:
            fh.write(json.dumps({"fault": fault, **{k: round(v, 2) for k, v in numbers.items()}}) + "\n")
