"""Video probing and decoding at a target frame rate, by timestamps.

Frames are resampled to ``fps`` from any source rate (25, 30, 29.97, variable): for each target
time ``t_k = start + k / fps`` (``k = 0 .. T-1``, ``T = round(duration * fps)``) the last source
frame whose presentation time is ``<= t_k`` is picked. Times are relative to the first frame.
decord is the fast path (it resizes at decode time); PyAV is the fallback when decord is missing
or refuses a file (said once in the log). A reader is opened per call and closed afterwards:
decord readers must never be shared across forked DataLoader workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

#: tolerance (seconds) when comparing a source frame's timestamp to a target time; a relative term
#: (``TIME_REL_EPS * t``) absorbs decord's float32 timestamps on long recordings
TIME_EPS = 1e-6
TIME_REL_EPS = 5e-7
BACKENDS = ("auto", "decord", "pyav")
_warned: set[str] = set()


class VideoError(RuntimeError):
    """A video that cannot be read, is truncated, or cannot give the requested frames."""


@dataclass(frozen=True)
class VideoInfo:
    """What a cheap probe learns about a video (``duration`` = first frame to end of last)."""

    path: Path
    fps: float
    n_frames: int
    duration: float
    width: int
    height: int
    codec: str


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(msg)


def _decord():
    """The decord module, or None when it is not installed (logged once)."""
    try:
        import decord
    except ImportError:
        _warn_once("decord-missing", "decord is not installed: decoding with PyAV (slower).")
        return None
    return decord


def n_target_frames(duration: float, fps: float) -> int:
    """Number of frames a span of ``duration`` seconds has at ``fps``: ``round(duration * fps)``."""
    return int(np.floor(duration * fps + 0.5 + 1e-9))


# --------------------------------------------------------------------------- probing
def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Cheap probe with PyAV: open, decode the first frame and the last second.

    Raises :class:`VideoError` for a missing, unreadable, corrupt or truncated file. The duration
    comes from the decoded frames' timestamps, not from the (possibly wrong) container header.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"no video stream in {path}")
            stream = container.streams.video[0]
            tb = stream.time_base
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            first = next(container.decode(stream), None)
            if first is None or first.pts is None:
                raise VideoError(f"no decodable frame in {path}")
            t0 = float(first.pts * tb)
            width, height = first.width, first.height
            claimed = _claimed_duration(container, stream)
            last_pts = _decode_tail(container, stream, t0 + max(claimed - 1.5, 0.0))
    except VideoError:
        raise
    except Exception as exc:  # av.error.* and friends
        raise VideoError(f"unreadable or corrupt video {path}: {exc}") from exc
    if last_pts is None:
        raise VideoError(f"truncated or corrupt video {path}: no frame decodes near its end")
    frame_dur = 1.0 / fps if fps > 0 else 0.0
    duration = float(last_pts * tb) - t0 + frame_dur
    if claimed > 0 and duration < claimed - max(3 * frame_dur, 0.05 * claimed):
        raise VideoError(
            f"truncated video {path}: header says {claimed:.2f} s, frames end at {duration:.2f} s"
        )
    n_frames = stream.frames or n_target_frames(duration, fps)
    codec = stream.codec_context.name
    return VideoInfo(path, fps, int(n_frames), duration, width, height, codec)


def _claimed_duration(container, stream) -> float:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _decode_tail(container, stream, seek_s: float) -> int | None:
    """Seek near the end and decode to EOF; the last frame's pts (None if nothing decodes)."""
    if seek_s > 0:
        container.seek(int(seek_s / stream.time_base), stream=stream, backward=True)
    last = None
    try:
        for frame in container.decode(stream):
            if frame.pts is not None:
                last = frame.pts if last is None else max(last, frame.pts)
    except Exception:  # a decode error at the tail: truncated data
        return None
    return last


# --------------------------------------------------------------------------- timestamps
def source_timestamps(path: str | os.PathLike, backend: str = "auto") -> np.ndarray:
    """Presentation times (s) of every source frame relative to the first, plus the end time.

    Returns ``[N + 1]``: ``ts[i]`` is the start of frame ``i`` and ``ts[N]`` the end of the last.
    """
    backend = _check_backend(backend)
    if backend != "pyav":
        decord = _decord()
        if decord is not None:
            try:
                vr = decord.VideoReader(str(path), ctx=decord.cpu(0))
                try:
                    spans = vr.get_frame_timestamp(np.arange(len(vr)))
                finally:
                    del vr
                return _normalise_ts(np.concatenate([spans[:, 0], spans[-1:, 1]]))
            except Exception as exc:
                if backend == "decord":
                    raise VideoError(f"decord cannot read {path}: {exc}") from exc
                _warn_once(f"decord-fail:{path}", f"decord failed on {path} ({exc}); using PyAV.")
    return _normalise_ts(_pyav_timestamps(path)[0])


def _normalise_ts(ts: np.ndarray) -> np.ndarray:
    ts = np.asarray(ts, dtype=np.float64)
    return ts - ts[0]


def _pyav_timestamps(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Demux (no decoding) the video packets: ([N + 1] times in s, [N] pts in time-base units)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb = stream.time_base
            pts, last_dur = [], 0
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                pts.append(packet.pts)
                last_dur = max(last_dur, packet.duration or 0)
    except Exception as exc:
        raise VideoError(f"unreadable or corrupt video {path}: {exc}") from exc
    if not pts:
        raise VideoError(f"no video frames in {path}")
    if stream.frames and len(pts) < stream.frames:
        raise VideoError(
            f"truncated video {path}: {len(pts)} of the {stream.frames} frames its header lists"
        )
    pts_arr = np.unique(np.asarray(pts, dtype=np.int64))
    if not last_dur:
        rate = stream.average_rate or stream.guessed_rate
        last_dur = round(1 / (float(rate) * tb)) if rate else 1
    times = np.array([float(Fraction(int(p)) * tb) for p in pts_arr] + [0.0])
    times[-1] = float(Fraction(int(pts_arr[-1] + last_dur)) * tb)
    return times, pts_arr


def select_source_frames(
    ts: np.ndarray, *, fps: float = 25.0, start_s: float | None = None, end_s: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Target times and, for each, the index of the last source frame shown at that time.

    ``ts`` is :func:`source_timestamps`'s output. Raises :class:`VideoError` when the span gives
    no frame at ``fps`` or starts after the video ends.
    """
    duration = float(ts[-1])
    start = 0.0 if start_s is None else float(start_s)
    end = duration if end_s is None else float(end_s)
    if start >= duration:
        raise VideoError(f"start_s={start:g} is at or after the video's end ({duration:.3f} s)")
    n = n_target_frames(end - start, fps)
    if n < 1:
        raise VideoError(f"span {start:g}-{end:g} s is shorter than one frame at {fps:g} fps")
    times = start + np.arange(n, dtype=np.float64) / fps
    starts = ts[:-1]
    idx = np.searchsorted(starts, times + TIME_EPS + TIME_REL_EPS * times, side="right") - 1
    return times, np.clip(idx, 0, len(starts) - 1).astype(np.int64)


def _check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoder backend {backend!r}; expected one of {BACKENDS}")
    return backend


def decode_frames(
    path: str | os.PathLike,
    *,
    fps: float = 25.0,
    start_s: float | None = None,
    end_s: float | None = None,
    size: tuple[int, int] | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Decode ``[T, H, W, 3]`` uint8 RGB frames sampled at ``fps`` by timestamps.

    ``size=(height, width)`` resizes at decode time (decord); ``None`` keeps the source size.
    """
    chunks = [frames for _, frames in iter_frames(
        path, fps=fps, start_s=start_s, end_s=end_s, size=size, backend=backend)]
    return np.concatenate(chunks)


def iter_frames(
    path: str | os.PathLike,
    *,
    fps: float = 25.0,
    start_s: float | None = None,
    end_s: float | None = None,
    size: tuple[int, int] | None = None,
    backend: str = "auto",
    chunk: int = 256,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(source_indices, frames)`` in chunks of at most ``chunk`` target frames.

    Keeps memory bounded for long full-resolution videos (box cropping needs the source size).
    """

    def pick(ts: np.ndarray) -> np.ndarray:
        return select_source_frames(ts, fps=fps, start_s=start_s, end_s=end_s)[1]

    yield from _iter_picked(path, pick, size, backend, chunk)


def iter_source_frames(
    path: str | os.PathLike,
    indices: np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    backend: str = "auto",
    chunk: int = 64,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(source_indices, frames)`` for given source frame indices (presentation order)."""
    indices = np.asarray(indices, dtype=np.int64)

    def pick(ts: np.ndarray) -> np.ndarray:
        if len(indices) and (indices.min() < 0 or indices.max() >= len(ts) - 1):
            raise VideoError(f"source frame index out of range 0..{len(ts) - 2} in {path}")
        return indices

    yield from _iter_picked(path, pick, size, backend, chunk)


def _iter_picked(path, pick, size, backend, chunk) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    backend = _check_backend(backend)
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video file not found: {path}")
    if backend != "pyav":
        decord = _decord()
        if decord is not None:
            try:
                yield from _iter_decord(decord, path, pick, size, chunk)
                return
            except VideoError:
                raise
            except Exception as exc:
                if backend == "decord":
                    raise VideoError(f"decord cannot read {path}: {exc}") from exc
                _warn_once(f"decord-fail:{path}", f"decord failed on {path} ({exc}); using PyAV.")
    yield from _iter_pyav(path, pick, size, chunk)


def _iter_decord(decord, path, pick, size, chunk):
    kwargs = {} if size is None else {"height": int(size[0]), "width": int(size[1])}
    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), **kwargs)
    try:
        spans = vr.get_frame_timestamp(np.arange(len(vr)))
        idx = pick(_normalise_ts(np.concatenate([spans[:, 0], spans[-1:, 1]])))
        for lo in range(0, len(idx), chunk):
            part = idx[lo : lo + chunk]
            uniq, inverse = np.unique(part, return_inverse=True)
            frames = vr.get_batch(uniq.tolist()).asnumpy()
            yield part, frames[inverse]
    finally:
        del vr


def _iter_pyav(path, pick, size, chunk):
    import av
    from av.video.reformatter import VideoReformatter

    times, pts = _pyav_timestamps(path)
    idx = pick(_normalise_ts(times))
    if len(idx) == 0:
        return
    pts_to_index = {int(p): i for i, p in enumerate(pts)}
    reformatter = VideoReformatter()  # one scaler context per file, not one per frame
    first = int(idx.min())
    wanted = set(idx.tolist())
    got: dict[int, np.ndarray] = {}
    lo = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if first > 0:
                container.seek(int(pts[first]), stream=stream, backward=True)
            for frame in container.decode(stream):
                i = pts_to_index.get(int(frame.pts)) if frame.pts is not None else None
                if i is None or i not in wanted:
                    continue
                got[i] = _frame_to_rgb(frame, size, reformatter)
                while lo < len(idx) and all(int(j) in got for j in idx[lo : lo + chunk]):
                    part = idx[lo : lo + chunk]
                    yield part, np.stack([got[int(j)] for j in part])
                    lo += chunk
                    later = set(idx[lo:].tolist())
                    got = {j: v for j, v in got.items() if j in later}
                if lo >= len(idx):
                    return
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(f"error decoding {path}: {exc}") from exc
    if lo < len(idx):
        raise VideoError(f"truncated or corrupt video {path}: frames missing after decoding")


def _frame_to_rgb(frame, size: tuple[int, int] | None, reformatter=None) -> np.ndarray:
    """RGB uint8 ``[H, W, 3]``, bicubic-resized to ``size``. Reusing one ``reformatter`` keeps
    libswscale's cached context (filters, threads) across frames: about 1.5x faster at 720p."""
    if size is None:
        return frame.to_ndarray(format="rgb24")
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = VideoReformatter()
    return reformatter.reformat(
        frame, width=int(size[1]), height=int(size[0]), format="rgb24", interpolation="BICUBIC"
    ).to_ndarray()
