"""H.264/MP4 writer (PyAV) with an exact frame rate and deterministic encoding.

The stream's time base is ``1 / fps`` as an exact fraction (``30000/1001`` stays exact) and
frame ``i`` gets ``pts = i``. libx264 runs single-threaded without B-frames, so the same frames
give the same bitstream, and decoders see exactly ``n`` frames at ``fps``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np


class VideoWriter:
    """Write RGB uint8 frames [H, W, 3] to an H.264 MP4 file."""

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction, crf: int = 23):
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, Fraction(fps)
        self._container = av.open(str(self.path), mode="w", format="mp4")
        self._container.metadata.clear()
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = 1 / self.fps
        stream.time_base = 1 / self.fps
        stream.options = {
            "crf": str(crf),
            "preset": "ultrafast",
            "bf": "0",
            "threads": "1",
            "g": str(max(1, round(2 * float(self.fps)))),
            "x264-params": "sliced-threads=0:lookahead-threads=1:bframes=0",
        }
        stream.thread_count = 1
        self._stream = stream
        self.n_frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB frame."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 [{self.height}, {self.width}, 3], got {frame.dtype} {frame.shape}"
            )
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        vf.pts = self.n_frames
        vf.time_base = 1 / self.fps
        for packet in self._stream.encode(vf):
            self._container.mux(packet)
        self.n_frames += 1

    def close(self) -> None:
        """Flush the encoder and close the file."""
        if self._container is None:
            return
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
