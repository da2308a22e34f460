"""Decode throughput: decord vs PyAV, 720p H.264 -> 128x171 at 25 fps. Prints JSON.

Reference measured side by side: libavcodec's decode alone (PyAV, frame threads, no colour
conversion or resize), the upper bound of any decode-to-RGB path on this machine.

.venv/bin/python experiments/benchmarks/bench_decode.py [--seconds 8] [--repeats 3] [--out F]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from common import emit, load_average

from seizure_lightning.features.video import decode_frames, probe_video


def make_720p(path: Path, seconds: float, fps: int = 25) -> Path:
    """A 1280x720 H.264 clip with moving content (so the encoder does real work)."""
    h, w = 720, 1280
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": "50"}
        for i in range(int(seconds * fps)):
            img = np.empty((h, w, 3), np.uint8)
            img[..., 0] = (xx + 4 * i) % 256
            img[..., 1] = (yy + 2 * i) % 256
            img[..., 2] = ((xx // 40 + yy // 40 + i // 5) % 2) * 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def best_of(count_frames: Callable[[], int], repeats: int) -> dict:
    """Frames/s of the fastest of ``repeats`` calls of ``count_frames`` (it returns frames)."""
    best, n, load = float("inf"), 0, load_average()
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = count_frames()
        best = min(best, time.perf_counter() - t0)
    return {"frames": n, "seconds": round(best, 3), "frames_per_s": round(n / best, 1),
            "load_average_1m": load}


def bench(path: Path, backend: str, repeats: int) -> dict:
    """``decode_frames`` (timestamps, decode, resize to 128x171 RGB): best of ``repeats``."""
    return best_of(lambda: len(decode_frames(path, fps=25.0, size=(128, 171), backend=backend)),
                   repeats)


def bench_raw(path: Path, repeats: int) -> dict:
    """libavcodec decode only (PyAV, thread_type AUTO), no conversion: the decoder's limit."""

    def count() -> int:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))

    return best_of(count, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = make_720p(Path(tmp) / "bench_720p.mp4", args.seconds)
        info = probe_video(path)
        result = {
            "benchmark": "decode",
            "video": {
                "width": info.width,
                "height": info.height,
                "fps": info.fps,
                "duration_s": info.duration,
                "codec": info.codec,
            },
            "target": {"fps": 25.0, "size_hw": [128, 171]},
        }
        bench_raw(path, 1)  # warm the page cache and the codec
        for backend in ("decord", "pyav"):
            try:
                result[backend] = bench(path, backend, args.repeats)
            except Exception as exc:  # decord missing or failing
                result[backend] = {"error": str(exc)}
        result["decode_only_limit"] = bench_raw(path, args.repeats)
        result["load_average_1m_after"] = load_average()
    emit(result, args.out)


if __name__ == "__main__":
    main()
