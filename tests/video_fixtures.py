"""Tiny test videos made with PyAV: each frame carries its index as 8 black/white stripes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

N_BITS = 8


def counter_image(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """RGB frame whose stripe ``b`` (left to right) is white when bit ``b`` of ``i`` is set."""
    img = np.zeros((height, width, 3), np.uint8)
    for b in range(N_BITS):
        if (i >> b) & 1:
            img[:, b * width // N_BITS : (b + 1) * width // N_BITS] = 255
    return img


def read_counter(frame: np.ndarray) -> int:
    """The index drawn by :func:`counter_image` (works on resized frames too)."""
    h, w = frame.shape[:2]
    row = frame[h // 2, :, :].astype(float).mean(axis=1)
    cols = [int((b + 0.5) * w / N_BITS) for b in range(N_BITS)]
    return sum(1 << b for b, c in enumerate(cols) if row[c] > 127)


def make_video(
    path: Path,
    rate: float | Fraction,
    n_frames: int,
    *,
    height: int = 48,
    width: int = 64,
    gop: int = 12,
) -> Path:
    """Write an H.264 MP4 (moov first) of ``n_frames`` counter frames at ``rate``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(100000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "crf": "10", "preset": "ultrafast"}
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(counter_image(i, height, width), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def truncate(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes (a download cut short)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)
