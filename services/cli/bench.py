"""``emostream bench``: the single loop the pipeline replaces against the pipeline, same frames, same model.

- ``--mode file``: the videos (default: the four sample videos; ``--mosaic``: one 1280x720 2x2 mosaic of
  them) through the monolith loop, one video after another, then through the pipeline as concurrent
  lossless jobs (as ``emostream analyze`` runs them). Printed: fps over all frames and its ratio to the
  monolith's, per-stage milliseconds, batch sizes and the CPU cores used.
- ``--mode live``: N looping sample videos as live cameras at F fps for S seconds (after a warm-up),
  through the monolith (always the newest frame of each camera in turn) and through the running stack.
  Printed per camera: annotated fps, latency p50/p99 (capture to result), drop rate.

The monolith is the original project's loop: facenet-pytorch MTCNN with its defaults on the full frame,
then one classifier call per face, fp32 eager PyTorch, all threads; it draws each face's box and label
and writes every frame to an MP4. ``--model swin-tiny-random`` is a full-size Swin-T (28 M parameters,
random weights, seed 0): the compute of the original's classifier, which cannot be downloaded here.
``--json`` prints the same as one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np

if TYPE_CHECKING:
    from services.classifier.stage import EmotionModel

SWIN_TINY = "swin-tiny-random"
#: The sample videos both modes use, in this order (cameras cycle through them).
BENCH_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
TILE_WH = (640, 360)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=("file", "live"), default="file")
    parser.add_argument(
        "--model", default=None, help=f"emotion model (default: EMOSTREAM_MODEL), or {SWIN_TINY}"
    )
    parser.add_argument(
        "--monolith-model", default=None, help=f"the monolith's model (default: --model), e.g. {SWIN_TINY}"
    )
    parser.add_argument("--backend", default=None, help="the pipeline classifier's backend (default: auto)")
    parser.add_argument("--videos", type=Path, nargs="*", default=None, help="file mode: these videos")
    parser.add_argument("--mosaic", action="store_true", help="file mode: one 2x2 mosaic of the videos")
    parser.add_argument("--frames", type=int, default=120, help="file mode, --mosaic: its length in frames")
    parser.add_argument("--cameras", type=int, default=4, help="live mode: how many cameras")
    parser.add_argument("--fps", type=float, default=10.0, help="live mode: frames per second per camera")
    parser.add_argument("--seconds", type=float, default=60.0, help="live mode: how long to measure")
    parser.add_argument("--warmup", type=float, default=15.0, help="live mode: seconds before measuring")
    parser.add_argument("--device", default="cpu", help="torch device of both (default cpu; e.g. cuda)")
    parser.add_argument("--threads", type=int, default=0, help="monolith torch threads (default: all cores)")
    parser.add_argument("--skip-monolith", action="store_true", help="run the pipeline only")
    parser.add_argument(
        "--replicas",
        default=None,
        metavar="SERVICE=N,...",
        help="pipeline replicas, as in up (default: file mode as analyze runs it, live mode one each)",
    )
    parser.add_argument("--json", action="store_true", help="print one line of JSON instead of a table")


# -- inputs ------------------------------------------------------------------------------------------------
def swin_tiny(out_dir: Path) -> Path:
    """Write a full-size Swin-T image classifier with random weights (seed 0) and its image processor to
    ``out_dir`` (kept when already there); returns ``out_dir``."""
    if (out_dir / "config.json").is_file():
        return out_dir
    import torch
    from transformers import SwinConfig, SwinForImageClassification, ViTImageProcessor

    from services.common.labels import CANONICAL_LABELS

    torch.manual_seed(0)
    config = SwinConfig(
        num_labels=len(CANONICAL_LABELS),
        id2label=dict(enumerate(CANONICAL_LABELS)),
        label2id={label: i for i, label in enumerate(CANONICAL_LABELS)},
    )
    SwinForImageClassification(config).save_pretrained(out_dir)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(out_dir)
    return out_dir


def model_name(spec: str, work_dir: Path) -> str:
    """The name ``load_model`` takes for ``spec``: ``swin-tiny-random`` becomes a directory in
    ``work_dir``."""
    return str(swin_tiny(work_dir / SWIN_TINY)) if spec == SWIN_TINY else spec


def mosaic(videos: Sequence[Path], out: Path, frames: int) -> Path:
    """A 1280x720 video of ``frames`` frames: the first four ``videos`` as 640x360 tiles, each looping."""
    caps = [cv2.VideoCapture(str(v)) for v in videos[:4]]
    fps = caps[0].get(cv2.CAP_PROP_FPS) or 25.0
    w, h = TILE_WH
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (2 * w, 2 * h))
    try:
        for _ in range(frames):
            canvas = np.zeros((2 * h, 2 * w, 3), np.uint8)
            for i, cap in enumerate(caps):
                ok, img = cap.read()
                if not ok:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, img = cap.read()
                if ok:
                    y, x = divmod(i, 2)
                    canvas[y * h : (y + 1) * h, x * w : (x + 1) * w] = cv2.resize(img, (w, h))
            writer.write(canvas)
    finally:
        writer.release()
        for cap in caps:
            cap.release()
    return out


# -- results -----------------------------------------------------------------------------------------------
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


@dataclass
class LiveRun:
    name: str
    seconds: float
    cameras: dict[str, CameraLive]
    cpu_cores: float

    @property
    def annotated_fps(self) -> float:
        return sum(c.annotated_fps for c in self.cameras.values())


def camera_live(latencies_ms: list[float], seqs: list[int], seconds: float) -> CameraLive:
    """A camera's live figures from the results it got in ``seconds``: their latencies and frame seqs."""
    offered = (max(seqs) - min(seqs) + 1) if seqs else 0
    return CameraLive(
        offered_fps=round(offered / seconds, 2),
        annotated_fps=round(len(seqs) / seconds, 2),
        p50_ms=round(statistics.median(latencies_ms)) if latencies_ms else None,
        p99_ms=round(float(np.percentile(latencies_ms, 99))) if latencies_ms else None,
        drop_rate=round(1 - len(seqs) / offered, 3) if offered else 1.0,
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


# -- the monolith ------------------------------------------------------------------------------------------
class Monolith:
    """The original single loop: MTCNN on the full frame, then one classifier call per face."""

    def __init__(self, model: EmotionModel, device: str = "cpu") -> None:
        from facenet_pytorch import MTCNN

        self.mtcnn = MTCNN(keep_all=True, device=device)
        self.model = model
        self.ms: dict[str, float] = {"detect": 0.0, "classify": 0.0, "draw": 0.0}
        self.faces = 0

    def frame(self, img: np.ndarray) -> np.ndarray:
        """Detect, classify each face alone, draw; returns the annotated frame."""
        t0 = time.perf_counter()
        boxes, _ = self.mtcnn.detect(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        t1 = time.perf_counter()
        labelled = []
        h, w = img.shape[:2]
        for box in [] if boxes is None else boxes:
            x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
            x2, y2 = min(w, int(box[2])), min(h, int(box[3]))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            probs = self.model.predict([img[y1:y2, x1:x2]])[0]
            labelled.append(((x1, y1, x2, y2), self.model.labels[int(probs.argmax())], float(probs.max())))
        t2 = time.perf_counter()
        for (x1, y1, x2, y2), label, p in labelled:
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 200, 255), 2)
            cv2.putText(
                img, f"{label} {p:.0%}", (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 200, 255)
            )
        self.ms["detect"] += (t1 - t0) * 1000
        self.ms["classify"] += (t2 - t1) * 1000
        self.ms["draw"] += (time.perf_counter() - t2) * 1000
        self.faces += len(labelled)
        return img


def monolith_files(
    videos: Sequence[Path], model: EmotionModel, out_dir: Path, device: str = "cpu"
) -> FileRun:
    loop = Monolith(model, device)
    frames, decode_ms, write_ms = 0, 0.0, 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        writer: cv2.VideoWriter | None = None
        while True:
            t = time.perf_counter()
            ok, img = cap.read()
            decode_ms += (time.perf_counter() - t) * 1000
            if not ok:
                break
            out = loop.frame(img)
            t = time.perf_counter()
            if writer is None:
                size = (out.shape[1], out.shape[0])
                writer = cv2.VideoWriter(
                    str(out_dir / f"{video.stem}.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), fps, size
                )
            writer.write(out)
            write_ms += (time.perf_counter() - t) * 1000
            frames += 1
        cap.release()
        if writer is not None:
            writer.release()
    seconds = time.perf_counter() - t0
    per_frame = {"decode": decode_ms, "detect": loop.ms["detect"], "draw": loop.ms["draw"], "write": write_ms}
    stages = {k: round(v / max(1, frames), 1) for k, v in per_frame.items()}
    stages["classify_per_face"] = round(loop.ms["classify"] / max(1, loop.faces), 1)
    return FileRun(
        "monolith",
        frames,
        round(seconds, 2),
        round((time.process_time() - cpu0) / seconds, 2),
        loop.faces,
        stages,
        {"classify": 1.0},
    )


def monolith_live(
    uris: Sequence[Path],
    fps: float,
    warmup_s: float,
    seconds: float,
    model: EmotionModel,
    device: str = "cpu",
) -> LiveRun:
    """Cameras as reader threads that keep each camera's newest frame at ``fps``; the loop takes the
    newest unprocessed frame of each camera in turn."""
    loop = Monolith(model, device)
    latest: dict[str, tuple[int, float, np.ndarray]] = {}
    stop = threading.Event()

    def read(cam: str, uri: Path) -> None:
        cap, seq, start = cv2.VideoCapture(str(uri)), 0, time.monotonic()
        while not stop.is_set():
            ok, img = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            seq += 1
            latest[cam] = (seq, time.monotonic(), img)
            stop.wait(max(0.0, start + seq / fps - time.monotonic()))
        cap.release()

    cams = {f"cam{i + 1}": uri for i, uri in enumerate(uris)}
    readers = [threading.Thread(target=read, args=c, daemon=True) for c in cams.items()]
    for r in readers:
        r.start()
    done: dict[str, int] = dict.fromkeys(cams, 0)
    lat: dict[str, list[float]] = {c: [] for c in cams}
    seqs: dict[str, list[int]] = {c: [] for c in cams}
    t_start = time.monotonic()
    measure_from = t_start + warmup_s
    cpu0 = 0.0
    try:
        while time.monotonic() < measure_from + seconds:
            idle = True
            for cam in cams:
                if cam not in latest or latest[cam][0] <= done[cam]:
                    continue
                seq, captured, img = latest[cam]
                done[cam] = seq
                idle = False
                loop.frame(img.copy())
                now = time.monotonic()
                if now >= measure_from:
                    if not cpu0:
                        cpu0 = time.process_time()
                    lat[cam].append((now - captured) * 1000)
                    seqs[cam].append(seq)
            if idle:
                time.sleep(0.002)
    finally:
        stop.set()
        for r in readers:
            r.join(2)
    cores = (time.process_time() - cpu0) / seconds if cpu0 else 0.0
    return LiveRun(
        "monolith", seconds, {c: camera_live(lat[c], seqs[c], seconds) for c in cams}, round(cores, 2)
    )


# -- the pipeline ------------------------------------------------------------------------------------------
def pipeline_env(name: str, backend: str | None, device: str = "cpu") -> dict[str, str]:
    from services.cli.stack import model_env

    # a health beat (with the counters) every 1 s; only warnings from the services
    env = {**model_env(name), "EMOSTREAM_HEALTH_TTL_S": "3", "EMOSTREAM_LOG_LEVEL": "WARNING"}
    if backend:
        env["EMOSTREAM_BACKEND"] = backend
    env["EMOSTREAM_DEVICE"] = device
    return env


def stage_figures(instances: dict[str, dict[str, Any]]) -> tuple[dict[str, float], dict[str, float], int]:
    """Per-stage ms (per frame; the classifier per face), mean batch per model pass, and faces, from the
    counters in the health keys (replicas summed)."""
    total: dict[str, dict[str, float]] = {}
    for name, counters in instances.items():
        service = name.split(":", 1)[0]
        into = total.setdefault(service, {})
        for key in ("busy_ms", "processed", "passes", "faces", "acked", "frames"):
            into[key] = into.get(key, 0.0) + float(counters.get(key, 0) or 0)
    stages: dict[str, float] = {}
    batches: dict[str, float] = {}
    for service, c in sorted(total.items()):
        if service == "classifier":
            stages["classifier_per_face"] = round(c["busy_ms"] / max(1.0, c["faces"]), 1)
            batches["classifier_faces"] = round(c["faces"] / max(1.0, c["passes"]), 1)
        elif service == "detector":
            stages["detector"] = round(c["busy_ms"] / max(1.0, c["processed"]), 1)
            batches["detector_frames"] = round(c["processed"] / max(1.0, c["passes"]), 1)
        elif service == "tracker":
            stages["tracker"] = round(c["busy_ms"] / max(1.0, c["acked"]), 1)
    return stages, batches, int(total.get("classifier", {}).get("faces", 0))


def pipeline_files(
    videos: Sequence[Path],
    name: str,
    backend: str | None,
    out_dir: Path,
    replicas: dict[str, int],
    device: str = "cpu",
) -> FileRun:

    from services.cli.analyze import new_jobs, run_jobs
    from services.cli.stack import PIPELINE, stack
    from services.common import health
    from services.common.connect import connect

    jobs = new_jobs(list(videos), out_dir)
    with stack(PIPELINE, env=pipeline_env(name, backend, device), redis_url="", replicas=replicas) as running:
        running.wait_healthy(300)
        pids = list(running.supervisor.pids().values())
        cpu0, t0 = cpu_seconds(pids) + time.process_time(), time.perf_counter()
        errors = run_jobs(running.redis_url, jobs, progress=False)
        seconds = time.perf_counter() - t0
        cpu = cpu_seconds(pids) + time.process_time() - cpu0
        time.sleep(1.5)  # one more health beat: the counters of the last frames
        instances = health.instances(connect(url=running.redis_url))
    if errors:
        raise RuntimeError(f"pipeline job failed: {'; '.join(errors.values())}")
    stages, batches, faces = stage_figures(instances)
    frames = sum(job.frames_done for job in jobs)
    return FileRun("pipeline", frames, round(seconds, 2), round(cpu / seconds, 2), faces, stages, batches)


def pipeline_live(
    uris: Sequence[Path],
    fps: float,
    warmup_s: float,
    seconds: float,
    name: str,
    backend: str | None,
    replicas: dict[str, int],
    device: str = "cpu",
) -> LiveRun:

    from services.cli.stack import PIPELINE, stack
    from services.common import codec, keys, registry
    from services.common.connect import connect
    from services.common.schema import Tracks

    env = {**pipeline_env(name, backend, device), "EMOSTREAM_LIVE_FPS_CAP": str(fps)}
    cams = {f"cam{i + 1}": uri for i, uri in enumerate(uris)}
    with stack(PIPELINE, env=env, redis_url="", replicas=replicas) as running:
        running.wait_healthy(300)
        client = connect(url=running.redis_url)
        for cam, uri in cams.items():
            registry.add(client, cam, str(uri), mode="live", loop=True)
        last_id = {keys.stream("tracks", c): "0-0" for c in cams}
        lat: dict[str, list[float]] = {c: [] for c in cams}
        seqs: dict[str, list[int]] = {c: [] for c in cams}
        measure_from = time.time() + warmup_s
        pids = list(running.supervisor.pids().values())
        cpu0 = 0.0
        while time.time() < measure_from + seconds:
            if not cpu0 and time.time() >= measure_from:
                cpu0 = cpu_seconds(pids)
            replies = cast(
                list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]],
                client.xread(last_id, count=1000, block=200),  # type: ignore[arg-type]
            )
            for stream, entries in replies:
                cam = stream.decode().rsplit(":", 1)[1]
                for entry_id, fields in entries:
                    last_id[stream.decode()] = entry_id.decode()
                    added_ms = int(entry_id.split(b"-")[0])
                    msg = codec.decode(fields)
                    if isinstance(msg, Tracks) and added_ms >= measure_from * 1000:
                        lat[cam].append(added_ms - msg.captured_ms)
                        seqs[cam].append(msg.seq)
        cores = (cpu_seconds(pids) - cpu0) / seconds
    return LiveRun(
        "pipeline", seconds, {c: camera_live(lat[c], seqs[c], seconds) for c in cams}, round(cores, 2)
    )


# -- the command -------------------------------------------------------------------------------------------
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
    return lines


def run(args: argparse.Namespace) -> int:
    import torch

    from services.classifier.loader import load_model
    from services.classifier.settings import ClassifierSettings
    from services.cli.samples import ensure_samples
    from services.cli.stack import file_job_replicas, parse_replicas

    try:
        replicas = parse_replicas(args.replicas or "")
    except ValueError as exc:
        print(f"emostream bench: {exc}")
        return 2
    spec = args.model or ClassifierSettings().model
    media = ensure_samples() if args.videos is None or args.mode == "live" else None
    videos = list(args.videos) if args.videos else [cast(Path, media) / v for v in BENCH_VIDEOS]
    missing = [v for v in videos if not v.is_file()]
    if missing:
        print(f"emostream bench: no such video: {missing[0]}")
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    mono_spec = args.monolith_model or spec
    report: dict[str, Any] = {
        "mode": args.mode,
        "model": spec,
        "monolith_model": mono_spec,
        "backend": args.backend or "auto",
        "device": args.device,
    }
    with tempfile.TemporaryDirectory(prefix="emostream-bench-") as tmp:
        work = Path(tmp)
        name = model_name(spec, work)
        if args.mode == "file":
            if args.mosaic:
                videos = [mosaic(videos, work / "mosaic.mp4", args.frames)]
            report["videos"] = [v.name for v in videos]
            if args.replicas is None:
                replicas = file_job_replicas(name, gpu=args.device != "cpu")
            report["replicas"] = replicas
            file_runs: list[FileRun] = []
            if not args.skip_monolith:
                (work / "monolith").mkdir()
                model = load_model(model_name(mono_spec, work), device=args.device, backend="torch")
                file_runs.append(monolith_files(videos, model, work / "monolith", args.device))
                del model
            try:
                file_runs.append(
                    pipeline_files(videos, name, args.backend, work / "pipeline", replicas, args.device)
                )
            except RuntimeError as exc:  # a job failed: its reason, not a traceback
                print(f"emostream bench: {exc}")
                return 1
            report["runs"] = [asdict(r) | {"fps": round(r.fps, 2)} for r in file_runs]
            if file_runs[0].name == "monolith":
                report["ratio"] = round(file_runs[-1].fps / file_runs[0].fps, 2)
            lines = file_lines(file_runs)
            head = f"{len(videos)} video(s), {file_runs[-1].frames} frames"
        else:
            uris = [videos[i % len(videos)] for i in range(args.cameras)]
            live_runs: list[LiveRun] = []
            if not args.skip_monolith:
                model = load_model(model_name(mono_spec, work), device=args.device, backend="torch")
                live_runs.append(monolith_live(uris, args.fps, args.warmup, args.seconds, model, args.device))
                del model
            live_runs.append(
                pipeline_live(
                    uris, args.fps, args.warmup, args.seconds, name, args.backend, replicas, args.device
                )
            )
            report["runs"] = [asdict(r) | {"annotated_fps": round(r.annotated_fps, 2)} for r in live_runs]
            lines = live_lines(live_runs)
            head = f"{args.cameras} cameras at {args.fps:g} fps, {args.seconds:g} s after {args.warmup:g} s"
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"emostream bench --mode {args.mode}: {head}; pipeline model {spec} "
            f"(backend {report['backend']}), monolith model {mono_spec} (torch fp32)"
        )
        print("\n".join(lines))
        if "ratio" in report:
            print(f"pipeline / monolith: {report['ratio']:.2f}x")
    return 0
