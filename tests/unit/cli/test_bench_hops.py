"""``emostream bench``'s latency breakdown from the hops the stages stamp (pure logic; the real pipeline
stamps them in tests/e2e/test_bench.py)."""

from __future__ import annotations

from services.cli.bench.results import SEGMENTS, CameraLive, LiveRun, hop_breakdown, live_lines


def sample(t0: int, detector_wait: int) -> dict[str, int]:
    hops = {"captured": t0, "ingest": t0 + 5, "detector_in": t0 + 5 + detector_wait}
    hops |= {"detector_out": hops["detector_in"] + 30, "classifier_in": hops["detector_in"] + 32}
    hops |= {"classifier_out": hops["classifier_in"] + 10, "tracker_in": hops["classifier_in"] + 11}
    hops |= {"tracker_out": hops["tracker_in"] + 1, "published": hops["tracker_in"] + 3}
    return hops


def test_each_segment_is_the_span_between_its_two_hops() -> None:
    out = hop_breakdown([sample(1000 * i, detector_wait=i) for i in range(101)])
    assert list(out) == [name for name, _, _ in SEGMENTS]
    assert out["detector_queue"] == {"p50_ms": 50, "p99_ms": 99, "count": 101}
    assert out["detector"]["p50_ms"] == 30 and out["classifier_queue"]["p50_ms"] == 2
    assert out["ingest"]["p50_ms"] == 5 and out["commit"]["p50_ms"] == 2


def test_results_without_hops_count_nothing_and_print_nothing() -> None:
    out = hop_breakdown([{"captured": 1, "published": 9}])  # from a stage older than the stamps
    assert all(v["count"] == 0 and v["p50_ms"] is None for v in out.values())
    run = LiveRun("pipeline", 10.0, {"cam1": CameraLive(4.0, 4.0, 100, 200, 0.0)}, 1.0, out)
    assert not any("where the time goes" in line for line in live_lines([run]))
