"""``emostream bench``'s figures: per run and per camera, CPU use, and the printed table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.common.latency import drop_rate, latency_summary, per_second


@dataclass
class FileRun:
    """One run of the file mode: throughput over every frame of every video."""

    name: str
    frames: int
    seconds: float
    cpu_cores: float
    faces: int = 0
    stages: dict[str, float] = field(default_factory=dict)  # ms per frame (or per face: *_per_face)
    batches: dict[str, float] = field(default_factory=dict)  # mean items per model pass

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


@dataclass
class CameraLive:
    offered_fps: float
    annotated_fps: float
    p50_ms: float | None
    p99_ms: float | None
    drop_rate: float


#: the latency breakdown of a live result: (segment, from hop, to hop); ``captured`` is the frame's
#: capture time, ``published`` the XADD time of its tracks, the rest the hops the stages stamp
#: (``services.common.schema.Header.hops``); a ``*_queue`` segment is time spent waiting in a stream
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("ingest", "captured", "ingest"),
    ("detector_queue", "ingest", "detector_in"),
    ("detector", "detector_in", "detector_out"),
    ("classifier_queue", "detector_out", "classifier_in"),
    ("classifier", "classifier_in", "classifier_out"),
    ("tracker_queue", "classifier_out", "tracker_in"),
    ("tracker", "tracker_in", "tracker_out"),
    ("commit", "tracker_out", "published"),
)


def hop_breakdown(samples: Sequence[dict[str, int]]) -> dict[str, dict[str, int | None]]:
    """p50 and p99 (ms) of each :data:`SEGMENTS` segment over ``samples`` (one dict of hop -> epoch ms
    per result); a segment counts the samples that have both of its hops."""
    out: dict[str, dict[str, int | None]] = {}
    for name, start, end in SEGMENTS:
        spans = [float(h[end] - h[start]) for h in samples if start in h and end in h]
        summary = latency_summary(spans)
        out[name] = {"p50_ms": summary.p50_ms, "p99_ms": summary.p99_ms, "count": summary.count}
    return out


@dataclass
class LiveRun:
    name: str
    seconds: float
    cameras: dict[str, CameraLive]
    cpu_cores: float
    hops: dict[str, dict[str, int | None]] = field(default_factory=dict)  # hop_breakdown, all cameras

    @property
    def annotated_fps(self) -> float:
        return sum(c.annotated_fps for c in self.cameras.values())


def camera_live(latencies_ms: list[float], seqs: list[int], seconds: float) -> CameraLive:
    """A camera's live figures from the results it got in ``seconds``: their latencies and frame seqs."""
    offered = (max(seqs) - min(seqs) + 1) if seqs else 0
    latency = latency_summary(latencies_ms)
    return CameraLive(
        offered_fps=per_second(offered, seconds),
        annotated_fps=per_second(len(seqs), seconds),
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
        drop_rate=drop_rate(len(seqs), offered),
    )


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (Linux /proc; processes gone count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def file_lines(runs: list[FileRun]) -> list[str]:
    base = runs[0].fps if runs[0].name == "monolith" else None
    lines = [
        f"{'run':<9} {'fps':>6} {'x mono':>7} {'cores':>6}  "
        "stages (ms per frame, classifier per face) / batches"
    ]
    for r in runs:
        ratio = f"{r.fps / base:.2f}" if base else "-"
        stages = ", ".join(f"{k} {v}" for k, v in r.stages.items())
        batches = ", ".join(f"{k} {v}" for k, v in r.batches.items())
        lines.append(f"{r.name:<9} {r.fps:>6.2f} {ratio:>7} {r.cpu_cores:>6.2f}  {stages} / {batches}")
    return lines


def live_lines(runs: list[LiveRun]) -> list[str]:
    base = runs[0].annotated_fps if runs[0].name == "monolith" else None
    lines = []
    for r in runs:
        ratio = f" ({r.annotated_fps / base:.2f}x the monolith)" if base and r is not runs[0] else ""
        lines.append(f"{r.name}: {r.annotated_fps:.1f} annotated fps in all{ratio}, {r.cpu_cores:.2f} cores")
        for cam, c in r.cameras.items():
            lines.append(
                f"  {cam}: offered {c.offered_fps} fps, annotated {c.annotated_fps} fps, latency p50/p99 "
                f"{c.p50_ms}/{c.p99_ms} ms, dropped {c.drop_rate:.0%}"
            )
        spans = ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in r.hops.items() if v["count"])
        if spans:
            lines.append(f"  where the time goes, p50/p99 ms: {spans}")
    return lines
