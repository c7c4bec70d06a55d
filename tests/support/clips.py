"""Synthetic tracking clips with exact ground truth, built at run time from the faces in the sample media.

A clip is a grey textured background with face "sprites" (real faces cut from the sample photos, with a
soft elliptical edge) moving along straight paths: crossings where one face passes in front of another,
faces entering and leaving the frame, still and moving faces. Ground truth is where each face's own
box (the MTCNN box of the source photo, scaled and shifted with the sprite) lies in every frame where at
least ``MIN_VISIBLE`` of it is visible (MOT convention: hidden faces are not expected to be found).

Nothing here is committed media: ``write_clip`` renders the MP4 and ``write_gt`` the CSV
(``frame,gt_id,x1,y1,x2,y2``) wherever the caller asks.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

FRAME_WH = (640, 360)
FPS = 25.0
MIN_VISIBLE = 0.5

#: face boxes (x1, y1, x2, y2, pixels) in the sample photos, found once with MTCNN and kept as data
FACES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "anna": ("multi_face.jpg", (315, 233, 409, 360)),
    "ben": ("multi_face.jpg", (682, 286, 790, 419)),
    "cleo": ("multi_face.jpg", (530, 299, 632, 437)),
    "dan": ("single_face.jpg", (191, 145, 373, 402)),
    "eve": ("0-f15-hao-ph.jpg", (109, 104, 383, 483)),
    "fay": ("0-f1-su-ph.jpg", (119, 99, 395, 473)),
    "gus": ("multi_face.jpg", (220, 65, 302, 174)),
    "hal": ("15-f13-anc-ph.jpg", (92, 130, 374, 480)),
    "ivy": ("45-m7-di-ph.jpg", (49, 151, 293, 478)),
}

Path2D = Callable[[int], tuple[float, float]]  # frame -> face-box centre (x, y) in clip pixels


@dataclass(frozen=True)
class Actor:
    """A face following ``path``; ``z`` orders drawing (higher in front); visible in [start, stop)."""

    gt_id: int
    face: str
    path: Path2D
    height_px: int = 90
    z: int = 0
    start: int = 0
    stop: int = 10**9
    scale: Callable[[int], float] | None = None  # frame -> multiple of height_px (a face approaching)

    def height_at(self, f: int) -> int:
        return max(8, round(self.height_px * (self.scale(f) if self.scale else 1.0)))


@dataclass(frozen=True)
class Occluder:
    """An object that is not a face (a pillar, a pole), drawn in front of every face: ``(x1, y1, x2, y2)``
    pixels, a flat ``grey`` level with a darker edge."""

    box: tuple[int, int, int, int]
    grey: int = 150


@dataclass(frozen=True)
class ClipSpec:
    name: str
    frames: int
    actors: tuple[Actor, ...]
    noise_std: float = 3.0  # per-frame sensor noise, grey levels, so detections jitter like a camera
    seed: int = 0
    occluders: tuple[Occluder, ...] = ()


@dataclass
class Sprite:
    image: np.ndarray  # (h, w, 3) BGR
    alpha: np.ndarray  # (h, w) float32 0..1
    face_xyxy: tuple[float, float, float, float]  # the face box inside the sprite


@dataclass
class Rendered:
    frames: list[np.ndarray] = field(default_factory=list)
    gt: list[tuple[int, int, float, float, float, float]] = field(default_factory=list)


def linear(x0: float, y0: float, x1: float, y1: float, frames: int) -> Path2D:
    """From (x0, y0) at frame 0 to (x1, y1) at frame ``frames - 1``, at constant speed."""
    span = max(frames - 1, 1)
    return lambda f: (x0 + (x1 - x0) * f / span, y0 + (y1 - y0) * f / span)


def waypoints(*points: tuple[int, float, float]) -> Path2D:
    """Piecewise linear through ``(frame, x, y)`` points (frames increasing), held before the first and
    after the last."""
    fs = [p[0] for p in points]
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    return lambda f: (float(np.interp(f, fs, xs)), float(np.interp(f, fs, ys)))


def still(x: float, y: float) -> Path2D:
    return lambda f: (x, y)


def sine(x0: float, y: float, amplitude: float, period: int) -> Path2D:
    """Side to side around ``x0`` (a moving face that speeds up and slows down)."""
    return lambda f: (x0 + amplitude * float(np.sin(2 * np.pi * f / period)), y)


def load_sprite(media: Path, face: str, height_px: int, margin: float = 0.25) -> Sprite:
    """Cut ``face`` with ``margin`` (fraction of the box) around it, scaled so the face box is
    ``height_px`` high, with a soft elliptical alpha edge."""
    file, (x1, y1, x2, y2) = FACES[face]
    img = cv2.imread(str(media / file))
    if img is None:
        raise FileNotFoundError(media / file)
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = max(0, int(x1 - margin * w)), max(0, int(y1 - margin * h))
    cx2, cy2 = min(img.shape[1], int(x2 + margin * w)), min(img.shape[0], int(y2 + margin * h))
    scale = height_px / h
    crop = cv2.resize(img[cy1:cy2, cx1:cx2], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sh, sw = crop.shape[:2]
    alpha = np.zeros((sh, sw), np.float32)
    cv2.ellipse(alpha, (sw // 2, sh // 2), (int(sw * 0.48), int(sh * 0.48)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, sw * 0.03))
    face_box = ((x1 - cx1) * scale, (y1 - cy1) * scale, (x2 - cx1) * scale, (y2 - cy1) * scale)
    return Sprite(crop, alpha, face_box)


def background(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = FRAME_WH
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    base = 70 + 40 * xs + 30 * ys
    blobs = cv2.GaussianBlur(rng.normal(0, 25, (h, w)).astype(np.float32), (0, 0), 15)
    grey = np.clip(base + blobs, 0, 255)
    return np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32)


def render(spec: ClipSpec, media: Path) -> Rendered:
    """Draw every frame and compute the ground truth of ``spec``."""
    sprites: dict[tuple[str, int], Sprite] = {}
    bg = background(spec.seed)
    rng = np.random.default_rng(spec.seed + 1)
    w, h = FRAME_WH
    out = Rendered()
    order = sorted(spec.actors, key=lambda a: a.z)
    for f in range(spec.frames):
        canvas = bg.copy()
        cover = np.zeros((h, w), np.float32)  # alpha of everything drawn so far, per actor afterwards
        placed: list[tuple[Actor, tuple[float, float, float, float], np.ndarray]] = []
        for actor in order:
            if not actor.start <= f < actor.stop:
                continue
            size = actor.height_at(f)
            sp = sprites.get((actor.face, size))
            if sp is None:
                sp = sprites[(actor.face, size)] = load_sprite(media, actor.face, size)
            cx, cy = actor.path(f)
            fx1, fy1, fx2, fy2 = sp.face_xyxy
            ox, oy = round(cx - (fx1 + fx2) / 2), round(cy - (fy1 + fy2) / 2)
            layer = _paste(canvas, sp, ox, oy)
            placed.append((actor, (fx1 + ox, fy1 + oy, fx2 + ox, fy2 + oy), layer))
            cover = np.maximum(cover, layer)
        front = _draw_occluders(canvas, spec.occluders)
        for i, (actor, box, _) in enumerate(placed):
            above = front.copy()
            for _, _, layer in placed[i + 1 :]:
                above = np.maximum(above, layer)
            if _visible_fraction(box, above) >= MIN_VISIBLE:
                out.gt.append((f, actor.gt_id, *box))
        noisy = canvas + rng.normal(0, spec.noise_std, canvas.shape).astype(np.float32)
        out.frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def _draw_occluders(canvas: np.ndarray, occluders: tuple[Occluder, ...]) -> np.ndarray:
    """Draw the occluders over ``canvas``; returns their full-frame cover (1 where one is)."""
    h, w = canvas.shape[:2]
    cover = np.zeros((h, w), np.float32)
    for occ in occluders:
        x1, y1, x2, y2 = (max(0, v) for v in occ.box)
        canvas[y1:y2, x1:x2] = occ.grey
        canvas[y1:y2, x1 : min(x1 + 3, x2)] = occ.grey * 0.6  # a shaded edge, as a real pole has
        canvas[y1:y2, max(x2 - 3, x1) : x2] = occ.grey * 0.6
        cover[y1:y2, x1:x2] = 1.0
    return cover


def _paste(canvas: np.ndarray, sp: Sprite, ox: int, oy: int) -> np.ndarray:
    """Alpha-blend the sprite at (ox, oy) (clipped to the canvas); returns its full-frame alpha layer."""
    h, w = canvas.shape[:2]
    sh, sw = sp.alpha.shape
    x1, y1, x2, y2 = max(ox, 0), max(oy, 0), min(ox + sw, w), min(oy + sh, h)
    layer = np.zeros((h, w), np.float32)
    if x1 >= x2 or y1 >= y2:
        return layer
    a = sp.alpha[y1 - oy : y2 - oy, x1 - ox : x2 - ox]
    img = sp.image[y1 - oy : y2 - oy, x1 - ox : x2 - ox].astype(np.float32)
    canvas[y1:y2, x1:x2] = a[:, :, None] * img + (1 - a[:, :, None]) * canvas[y1:y2, x1:x2]
    layer[y1:y2, x1:x2] = a
    return layer


def _visible_fraction(box: tuple[float, float, float, float], above: np.ndarray) -> float:
    """Share of the face box that is inside the frame and not covered (alpha > 0.5) by faces in front."""
    h, w = above.shape
    x1, y1, x2, y2 = (round(v) for v in box)
    area = max(1, (x2 - x1) * (y2 - y1))
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if cx1 >= cx2 or cy1 >= cy2:
        return 0.0
    free = float((above[cy1:cy2, cx1:cx2] <= 0.5).sum())
    return free / area


def frame_count(path: Path) -> int:
    """The frames OpenCV decodes from the video at ``path``."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def write_clip(rendered: Rendered, path: Path, fps: float = FPS) -> Path:
    """The frames as an MP4 at ``fps``; below ``FPS`` frames are dropped evenly so that time runs as in
    the clip (a live camera at the ingest's fps cap then sees it in real time)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, FRAME_WH)
    n = len(rendered.frames)
    keep = (
        sorted({min(n - 1, int(i * FPS / fps)) for i in range(int(n * fps / FPS))}) if fps < FPS else range(n)
    )
    for frame in (rendered.frames[i] for i in keep):
        writer.write(frame)
    writer.release()
    return path


def write_gt(rendered: Rendered, path: Path) -> Path:
    with open(path, "w", newline="") as fh:
        rows = csv.writer(fh)
        rows.writerow(["frame", "gt_id", "x1", "y1", "x2", "y2"])
        for f, gid, x1, y1, x2, y2 in rendered.gt:
            rows.writerow([f, gid, f"{x1:.1f}", f"{y1:.1f}", f"{x2:.1f}", f"{y2:.1f}"])
    return path


def build(spec: ClipSpec, media: Path, out_dir: Path) -> tuple[Path, Path]:
    """Render ``spec`` to ``out_dir/{name}.mp4`` and ``out_dir/{name}.gt.csv``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered = render(spec, media)
    return (
        write_clip(rendered, out_dir / f"{spec.name}.mp4"),
        write_gt(rendered, out_dir / f"{spec.name}.gt.csv"),
    )


def _crossing(frames: int = 100) -> ClipSpec:
    """Two faces walk towards each other at the same height; anna passes in front of ben."""
    return ClipSpec(
        "crossing",
        frames,
        (
            Actor(1, "anna", linear(90, 180, 550, 185, frames), z=1),
            Actor(2, "ben", linear(550, 175, 90, 170, frames), z=0),
        ),
    )


def _occlusion(frames: int = 100) -> ClipSpec:
    """A face stands still while another walks in front of it; later a third walks behind it."""
    return ClipSpec(
        "occlusion",
        frames,
        (
            Actor(1, "dan", still(320, 170), z=1),
            Actor(2, "cleo", linear(40, 185, 600, 175, frames), z=2),
            Actor(3, "eve", lambda f: (700 - 6.0 * (f - 45), 160.0), z=0, start=45),
        ),
        seed=1,
    )


def _enter_leave(frames: int = 110) -> ClipSpec:
    """Faces enter from the edges, cross and leave; one arrives while the others are on screen."""
    return ClipSpec(
        "enter_leave",
        frames,
        (
            Actor(1, "fay", linear(-60, 120, 700, 130, frames), z=0),
            Actor(2, "anna", linear(700, 250, -60, 240, frames), z=1),
            Actor(3, "ben", linear(320, -60, 330, 420, frames - 30), z=2, start=30),
        ),
        seed=2,
    )


def _still_face(frames: int = 80) -> ClipSpec:
    return ClipSpec("still", frames, (Actor(1, "dan", still(320, 180), height_px=110),), seed=3)


def _moving_face(frames: int = 100) -> ClipSpec:
    return ClipSpec("moving", frames, (Actor(1, "dan", sine(320, 180, 200, 50), height_px=110),), seed=4)


def _hidden(hide: int, speed: float) -> Callable[[], ClipSpec]:
    """ben walks right at ``speed`` px/frame; anna overtakes him in front (10 px/frame faster), walks just
    in front of him so that he is hidden for ``hide`` frames (as the ground truth counts them, within a
    frame or two: ``hidden_runs``), then walks on ahead, 10 px/frame faster again."""

    def make() -> ClipSpec:
        rel = 10.0
        cover = max(0, hide - 11)  # partly hidden frames on the way in and out count too (measured)
        x0, lead = 140.0, 180.0
        catch = int(lead / rel) + 5
        leave = catch + cover
        frames = leave + 40
        b = linear(x0, 176, x0 + speed * (frames - 1), 176, frames)

        def anna(f: int) -> tuple[float, float]:
            bx = b(f)[0]
            if f < catch:
                return (bx - rel * (catch - f), 172.0)
            return (bx + rel * max(0, f - leave), 172.0)

        return ClipSpec(
            f"hidden{hide}_{'fast' if speed > 4 else 'slow'}",
            frames,
            (Actor(1, "anna", anna, height_px=100, z=1), Actor(2, "ben", b, height_px=90, z=0)),
            seed=10 + hide,
        )

    return make


def _reentry(away_s: float) -> Callable[[], ClipSpec]:
    """cleo walks out of the right edge and is away for ``away_s`` seconds; meanwhile a stranger (gus)
    walks in through the same edge, and fay stands at the left. cleo then comes back through the edge."""

    def make() -> ClipSpec:
        away = round(away_s * FPS)
        out_at = 50  # cleo's face has left the frame
        back_at = out_at + away
        frames = back_at + 60
        cleo = waypoints((0, 420, 180), (out_at, 720, 180), (back_at, 720, 190), (frames, 470, 190))
        stranger = waypoints((out_at + 8, 720, 170), (out_at + 58, 330, 175))
        return ClipSpec(
            f"reentry_{away_s:g}s",
            frames,
            (
                Actor(1, "cleo", cleo, z=1),
                Actor(2, "gus", stranger, z=2, start=out_at + 8),
                Actor(3, "fay", still(90, 120), height_px=80),
            ),
            seed=20 + round(away_s),
        )

    return make


def _six_faces(frames: int = 150) -> ClipSpec:
    """Six faces at once, in two rows, two pairs crossing in each row and one walking down across them."""
    return ClipSpec(
        "six_faces",
        frames,
        (
            Actor(1, "anna", linear(60, 90, 560, 95, frames), height_px=70, z=1),
            Actor(2, "ben", linear(560, 95, 60, 90, frames), height_px=70, z=0),
            Actor(3, "cleo", linear(80, 265, 540, 260, frames), height_px=70, z=0),
            Actor(4, "gus", linear(540, 260, 80, 265, frames), height_px=70, z=1),
            Actor(5, "hal", still(590, 270), height_px=65, z=0),
            Actor(6, "ivy", linear(320, 60, 300, 300, frames), height_px=70, z=2),
        ),
        seed=30,
    )


def _approach(frames: int = 120) -> ClipSpec:
    """A face approaches the camera (60 -> 200 px high) while another walks across behind it."""
    return ClipSpec(
        "approach",
        frames,
        (
            Actor(
                1,
                "eve",
                linear(300, 170, 340, 190, frames),
                height_px=60,
                z=1,
                scale=lambda f: 1.0 + 2.33 * f / (frames - 1),
            ),
            Actor(2, "hal", linear(620, 120, 40, 120, frames), height_px=70, z=0),
        ),
        seed=31,
    )


def _fast(frames: int = 60) -> ClipSpec:
    """Fast motion: two faces cross at 16 px/frame (400 px/s) and a third drops at 8 px/frame."""
    return ClipSpec(
        "fast",
        frames,
        (
            Actor(1, "dan", linear(20, 180, 20 + 16 * (frames - 1), 180, frames), height_px=85, z=1),
            Actor(2, "fay", linear(620, 170, 620 - 16 * (frames - 1), 175, frames), height_px=85, z=0),
            Actor(3, "ivy", linear(480, -40, 480, -40 + 8 * (frames - 1), frames), height_px=75, z=2),
        ),
        seed=32,
    )


def _behind_object(kind: str) -> Callable[[], ClipSpec]:
    """Two faces pass behind an object that is not a face, at the same time, and come out again.

    - ``pole``: a 50 px pole; the faces cross each other behind it (each is hidden a few frames);
    - ``pillar``: a 130 px pillar; they cross behind it, both hidden for over a second, and leave on the
      side the other came from;
    - ``pillar_overtake``: both walk right, the one behind faster; she overtakes behind the pillar, so
      they come out in the other order, moving the same way.
    A third face stands aside the whole time."""

    def make() -> ClipSpec:
        if kind == "pole":
            occ, speed, frames = Occluder((300, 0, 350, 360), grey=165), 4.0, 130
        else:
            occ, speed, frames = Occluder((255, 0, 385, 360), grey=140), 3.0, 200
        meet = frames // 2
        if kind == "pillar_overtake":
            meet = 70  # she catches up with him behind the pillar's middle, at 5 against his 2 px/frame
            a = linear(320 - 5.0 * meet, 178, 320 + 5.0 * (frames - 1 - meet), 178, frames)
            b = linear(320 - 2.0 * meet, 170, 320 + 2.0 * (frames - 1 - meet), 170, frames)
            actors = (Actor(1, "cleo", a, z=1), Actor(2, "ben", b, z=0))
        else:
            a = linear(320 - speed * meet, 175, 320 + speed * (frames - 1 - meet), 180, frames)
            b = linear(320 + speed * meet, 170, 320 - speed * (frames - 1 - meet), 168, frames)
            actors = (Actor(1, "cleo", a, z=1), Actor(2, "ben", b, z=0))
        return ClipSpec(
            kind,
            frames,
            (*actors, Actor(3, "fay", still(570, 300), height_px=70)),
            seed=40 + len(kind),
            occluders=(occ,),
        )

    return make


def _absence(away_s: float) -> Callable[[], ClipSpec]:
    """cleo walks out through the left edge and comes back ``away_s`` seconds later (from her last frame
    in view to her first again) through the *right* edge. While she is away a stranger (gus) walks across
    and leaves, and another (anna) walks in from the left 2 s before she returns and stays; hal stands at
    the top right. ``away_s`` is the time the ground truth has her out of view."""

    def make() -> ClipSpec:
        away = round(away_s * FPS)
        gone = 45  # her face box is then half outside the left edge: the last frame she counts as seen
        back = gone + away  # the first frame she counts as seen again, half inside the right edge
        frames = back + 75
        # her box centre on the edge: half of it in view (``MIN_VISIBLE``) at ``gone`` and ``back``
        out = waypoints((0, 300, 185), (gone, 0, 185), (gone + 12, -80, 185))
        ret = waypoints((back - 12, 720, 195), (back, 640, 195), (frames, 400, 195))
        return ClipSpec(
            f"absence_{away_s:g}s",
            frames,
            (
                Actor(1, "cleo", out, z=1, stop=gone + 12),
                Actor(1, "cleo", ret, z=1, start=back - 12),
                Actor(
                    2, "gus", waypoints((gone + 20, 700, 165), (gone + 110, -60, 170)), z=2, start=gone + 20
                ),
                Actor(3, "anna", waypoints((back - 50, -60, 200), (back - 10, 150, 205)), start=back - 50),
                Actor(4, "hal", still(560, 70), height_px=70),
            ),
            seed=50 + round(away_s),
        )

    return make


#: clips with identity events (crossings, occlusions, exits and re-entries, crowds, scale, speed)
TRACKING_CLIPS: dict[str, Callable[[], ClipSpec]] = {
    "crossing": _crossing,
    "occlusion": _occlusion,
    "enter_leave": _enter_leave,
    **{f"hidden{c}_{n}": _hidden(c, v) for c in (10, 20, 30) for n, v in (("slow", 3.0), ("fast", 6.0))},
    **{f"reentry_{s}s": _reentry(s) for s in (1, 3, 5)},
    "six_faces": _six_faces,
    "approach": _approach,
    "fast": _fast,
    **{k: _behind_object(k) for k in ("pole", "pillar", "pillar_overtake")},
    **{f"absence_{s}s": _absence(s) for s in (5, 8, 10)},
}
#: the frame step of the "live" variant of every clip: 25 -> 5 fps, the frames live mode sees after drops
LIVE_STEP = 5
#: one face, still or moving, for jitter versus lag of the box smoothers
SMOOTHING_CLIPS: dict[str, Callable[[], ClipSpec]] = {"still": _still_face, "moving": _moving_face}


def read_gt(path: Path) -> dict[int, list[tuple[int, tuple[float, float, float, float]]]]:
    """``frame -> [(gt_id, box_xyxy)]`` from a ground-truth CSV."""
    out: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            box = (float(row["x1"]), float(row["y1"]), float(row["x2"]), float(row["y2"]))
            out.setdefault(int(row["frame"]), []).append((int(row["gt_id"]), box))
    return out


def hidden_runs(gt: dict[int, list[tuple[int, tuple[float, float, float, float]]]], gt_id: int) -> list[int]:
    """Lengths of the runs of frames in which ``gt_id`` is absent between two frames where it is present."""
    present = sorted(f for f, rows in gt.items() if any(g == gt_id for g, _ in rows))
    return [b - a - 1 for a, b in zip(present, present[1:], strict=False) if b - a > 1]
