"""Tiny test videos made with PyAV: each frame carries its index as 8 black/white stripes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from seizure_lightning.features.video import iter_frames, select_source_frames, source_timestamps

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


# --------------------------------------------------------------------------- decoding helpers
def frame_times(path, *, fps=25.0, start_s=None, end_s=None, backend="auto") -> np.ndarray:
    """The target times (s, from the first frame) of the frames the project decodes."""
    ts = source_timestamps(path, backend)
    return select_source_frames(ts, fps=fps, start_s=start_s, end_s=end_s)[0]


def source_frame_indices(path, *, fps=25.0, start_s=None, end_s=None, backend="auto") -> np.ndarray:
    """The source frame index picked for each target frame (what box tracks are indexed by)."""
    ts = source_timestamps(path, backend)
    return select_source_frames(ts, fps=fps, start_s=start_s, end_s=end_s)[1]


def decode_with_indices(path, *, fps=25.0, start_s=None, end_s=None, size=None,
                        backend="auto") -> tuple[np.ndarray, np.ndarray]:
    """``decode_frames`` and the picked source frame indices."""
    chunks, indices = [], []
    for idx, frames in iter_frames(path, fps=fps, start_s=start_s, end_s=end_s, size=size,
                                   backend=backend):
        chunks.append(frames)
        indices.append(idx)
    return np.concatenate(chunks), np.concatenate(indices)
