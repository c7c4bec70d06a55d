"""The one latency/rate summary: percentiles by linear interpolation, rounded; rates and drops."""

from __future__ import annotations

import pytest

from services.common.latency import LatencySummary, drop_rate, latency_summary, per_second


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], LatencySummary(0, None, None, None)),
        ([42.0], LatencySummary(1, 42, 42, 42)),
        (list(range(1, 101)), LatencySummary(100, 50, 90, 99)),  # 50.5, 90.1, 99.01 interpolated
        ([10, 10, 10, 1000], LatencySummary(4, 10, 703, 970)),  # one outlier moves p90/p99, not p50
    ],
)
def test_latency_summary(samples: list[float], expected: LatencySummary) -> None:
    assert latency_summary(samples) == expected


@pytest.mark.parametrize(
    ("received", "offered", "rate"), [(0, 0, 1.0), (10, 10, 0.0), (9, 10, 0.1), (0, 5, 1.0)]
)
def test_drop_rate(received: int, offered: int, rate: float) -> None:
    assert drop_rate(received, offered) == rate


def test_per_second() -> None:
    assert per_second(30, 4.0) == 7.5
    assert per_second(5, 0.0) == 0.0
