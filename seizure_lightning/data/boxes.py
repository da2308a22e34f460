"""Patient box tracks: ``frame,x1,y1,x2,y2`` CSVs in source frame indices and source pixels.

A track is loaded and validated, filled for every source frame (linear interpolation between
detections, held before the first and after the last), smoothed over time, padded by a margin
and clamped to the frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

BOX_COLUMNS = ("frame", "x1", "y1", "x2", "y2")


class BoxTrackError(ValueError):
    """A box-track CSV that cannot be used; the message names the file and the rows."""


def box_track_problems(
    path: str | os.PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    n_frames: int | None = None,
) -> list[str]:
    """Every problem of a box-track file (empty list = valid), each naming its CSV row."""
    path = Path(path)
    if not path.is_file():
        return [f"box track not found: {path}"]
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except Exception as exc:
        return [f"box track {path} is not a readable CSV: {exc}"]
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in BOX_COLUMNS if c not in df.columns]
    if missing:
        return [
            f"box track {path}: missing column(s) {missing}; expected {','.join(BOX_COLUMNS)}"
            f" (found {','.join(map(str, df.columns))})"
        ]
    problems: list[str] = []
    values = df[list(BOX_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    tol_x = max(2.0, 0.01 * width) if width else 0.0
    tol_y = max(2.0, 0.01 * height) if height else 0.0
    seen: dict[int, int] = {}
    for i, row in enumerate(values.itertuples(index=False)):
        csv_row = i + 2
        where = f"box track {path}, row {csv_row}"
        if any(pd.isna(v) for v in row):
            problems.append(f"{where}: non-numeric or empty value")
            continue
        frame, x1, y1, x2, y2 = (float(v) for v in row)
        if frame < 0 or frame != int(frame):
            problems.append(f"{where}: frame must be a non-negative integer, got {frame:g}")
            continue
        if int(frame) in seen:
            problems.append(
                f"{where}: frame {int(frame)} repeated (first at row {seen[int(frame)]})"
            )
        seen[int(frame)] = csv_row
        if n_frames is not None and frame >= n_frames:
            problems.append(f"{where}: frame {int(frame)} beyond the video's {n_frames} frames")
        if not (x2 > x1 and y2 > y1):
            problems.append(f"{where}: empty box (need x1 < x2 and y1 < y2)")
        elif (
            width
            and height
            and (x1 < -tol_x or y1 < -tol_y or x2 > width + tol_x or y2 > height + tol_y)
        ):
            problems.append(
                f"{where}: box ({x1:g},{y1:g},{x2:g},{y2:g}) outside the {width}x{height} frame"
            )
    return problems


def load_box_track(
    path: str | os.PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    n_frames: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validated track: (``frames`` [M] int64 sorted, ``boxes`` [M, 4] float64 x1,y1,x2,y2).

    Raises :class:`BoxTrackError` listing every bad row.
    """
    problems = box_track_problems(path, width=width, height=height, n_frames=n_frames)
    if problems:
        raise BoxTrackError("\n".join(problems))
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [str(c).strip().lower() for c in df.columns]
    df = df.sort_values("frame")
    frames = df["frame"].to_numpy(dtype=np.int64)
    boxes = df[list(BOX_COLUMNS[1:])].to_numpy(dtype=np.float64)
    return frames, boxes


def fill_track(
    frames: np.ndarray, boxes: np.ndarray, n_frames: int, *, width: int, height: int
) -> np.ndarray:
    """Box for every source frame ``[n_frames, 4]``: interpolated between, held outside.

    An empty track gives the whole frame.
    """
    if len(frames) == 0:
        return np.tile(np.array([0.0, 0.0, width, height]), (n_frames, 1))
    grid = np.arange(n_frames)
    return np.stack([np.interp(grid, frames, boxes[:, j]) for j in range(4)], axis=1)


def smooth_track(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` frames (edges padded by repetition)."""
    if window <= 1 or len(boxes) < 2:
        return boxes.copy()
    half = window // 2
    padded = np.pad(boxes, ((half, window - 1 - half), (0, 0)), mode="edge")
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, j], kernel, mode="valid") for j in range(4)], axis=1)


def pad_boxes(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Grow each box by ``margin`` x its width (left and right) and x its height (top, bottom)."""
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    return boxes + margin * np.concatenate([-w, -h, w, h], axis=1)


def expand_to_aspect(boxes: np.ndarray, aspect: float) -> np.ndarray:
    """Grow boxes (about their centre) to width / height == ``aspect``."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    w2 = np.maximum(w, h * aspect)
    h2 = np.maximum(h, w / aspect)
    return np.stack([cx - w2 / 2, cy - h2 / 2, cx + w2 / 2, cy + h2 / 2], axis=1)


def clamp_boxes(boxes: np.ndarray, width: int, height: int, min_size: float = 2.0) -> np.ndarray:
    """Clamp to ``[0, width] x [0, height]`` keeping at least ``min_size`` pixels per side."""
    out = boxes.copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    out[:, 2] = np.maximum(out[:, 2], np.minimum(out[:, 0] + min_size, width))
    out[:, 0] = np.minimum(out[:, 0], out[:, 2] - min_size)
    out[:, 3] = np.maximum(out[:, 3], np.minimum(out[:, 1] + min_size, height))
    out[:, 1] = np.minimum(out[:, 1], out[:, 3] - min_size)
    return out


def prepare_track(
    path: str | os.PathLike,
    n_frames: int,
    *,
    width: int,
    height: int,
    margin: float = 0.1,
    smooth_frames: int = 5,
    aspect: float | None = None,
) -> np.ndarray:
    """Load, fill, smooth, pad (and optionally expand to ``aspect``) and clamp a track.

    Returns ``[n_frames, 4]`` float boxes in source pixels, one per source frame.
    """
    frames, boxes = load_box_track(path, width=width, height=height, n_frames=n_frames)
    track = smooth_track(
        fill_track(frames, boxes, n_frames, width=width, height=height), smooth_frames
    )
    track = pad_boxes(track, margin)
    if aspect:
        track = expand_to_aspect(track, aspect)
    return clamp_boxes(track, width, height)
