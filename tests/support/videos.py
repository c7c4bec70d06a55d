"""Small test videos made at run time (this module holds no tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_video(path: Path, size_wh: tuple[int, int], frames: int = 5) -> Path:
    """A lossless PNG-in-AVI video (OpenCV's own writers refuse a 1x1 size)."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.write_frames(
        str(path),
        size_wh,
        fps=10,
        codec="png",
        pix_fmt_in="bgr24",
        pix_fmt_out="rgb24",
        macro_block_size=1,
        ffmpeg_log_level="error",
    )
    gen.send(None)
    for i in range(frames):
        gen.send(np.full((size_wh[1], size_wh[0], 3), 40 + i, np.uint8))
    gen.close()
    return path
