"""Windows of a descriptor sequence: fixed length, configurable stride, PAD + attention mask."""

from __future__ import annotations

import numpy as np


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start frames of the windows covering ``length`` frames.

    Windows step by ``stride``; a last window is aligned to the end so no frame is left out.
    A sequence shorter than ``window`` gives one (padded) window at 0.
    """
    if length <= 0:
        raise ValueError(f"a sequence needs at least one frame, got length={length}")
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window=} {stride=}")
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return starts


def take_window(
    features: np.ndarray, start: int, window: int, pad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``features[start:start+window]`` as float32, padded with ``pad`` to ``window`` rows.

    Returns ``(x [window, D], attention_mask [window] bool)``.
    """
    chunk = np.asarray(features[start : start + window], dtype=np.float32)
    valid = chunk.shape[0]
    mask = np.zeros(window, dtype=bool)
    mask[:valid] = True
    if valid == window:
        return chunk, mask
    out = np.empty((window, chunk.shape[1]), dtype=np.float32)
    out[:valid] = chunk
    out[valid:] = pad
    return out, mask
