"""One way to summarise latencies and rates, for ``emostream bench``, the soak and the benchmarks:
percentiles by linear interpolation (numpy's default), rounded to whole milliseconds, and rates per
second, so a p99 in one report means the same as in another."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencySummary:
    """``count`` samples; the percentiles are None when there are none."""

    count: int
    p50_ms: int | None
    p90_ms: int | None
    p99_ms: int | None


def latency_summary(samples_ms: Sequence[float]) -> LatencySummary:
    if not samples_ms:
        return LatencySummary(0, None, None, None)
    p50, p90, p99 = (round(float(v)) for v in np.percentile(np.asarray(samples_ms, float), [50, 90, 99]))
    return LatencySummary(len(samples_ms), p50, p90, p99)


def per_second(count: int, seconds: float, digits: int = 2) -> float:
    """``count`` events over ``seconds`` as a rate (0 for no time)."""
    return round(count / seconds, digits) if seconds > 0 else 0.0


def drop_rate(received: int, offered: int) -> float:
    """The share of ``offered`` items that did not arrive (1.0 when nothing was offered)."""
    return round(1 - received / offered, 3) if offered else 1.0
