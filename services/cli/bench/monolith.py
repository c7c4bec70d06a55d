"""The single loop the pipeline replaces (the original project's), in file and live mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from services.cli.bench.results import FileRun, LiveRun, camera_live

if TYPE_CHECKING:
    from services.classifier.stage import EmotionModel


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
    newest unprocessed frame of each camera in turn.

    Long because: the reader threads and the loop share the newest-frame slots and the counters of one run.
    """
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
