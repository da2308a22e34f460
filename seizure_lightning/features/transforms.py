"""Frame transforms of the paper: box crop -> resize 128x171 -> 112x112 crop -> mean/std.

Crops are deterministic (centre, or one of K fixed positions), K uniform random positions per
item drawn once from a seed (``random``: the cache's form of the paper's random crop), or drawn at
random per sample (one offset per sample, the same for all its frames). Everything is vectorised over frames.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from seizure_lightning.constants import IMAGENET_MEAN, IMAGENET_STD

CROP_MODES = ("center", "fixed_k", "random")


def crop_resize(frames: np.ndarray, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop each frame to its box and resize it to ``size=(h, w)``; uint8 ``[T, h, w, 3]``.

    ``boxes`` ``[T, 4]`` (x1, y1, x2, y2, source pixels) are rounded outwards to whole pixels.
    Resizing is bilinear with antialiasing.
    """
    out = np.empty((len(frames), size[0], size[1], 3), dtype=np.uint8)
    height, width = frames.shape[1:3]
    for i, (frame, box) in enumerate(zip(frames, boxes)):
        x1, y1 = max(math.floor(box[0]), 0), max(math.floor(box[1]), 0)
        x2, y2 = min(math.ceil(box[2]), width), min(math.ceil(box[3]), height)
        patch = torch.from_numpy(np.ascontiguousarray(frame[y1:y2, x1:x2]))
        out[i] = resize_uint8(patch.permute(2, 0, 1)[None], size)[0].permute(1, 2, 0).numpy()
    return out


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear antialiased resize of uint8 ``[N, 3, H, W]`` images to uint8 ``[N, 3, h, w]``."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    resized = F.interpolate(
        images.float(), size=tuple(size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize whole uint8 frames ``[T, H, W, 3]`` to ``size`` (when decode-time resize was not used)."""
    if frames.shape[1:3] == tuple(size):
        return frames
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    return resize_uint8(t, size).permute(0, 2, 3, 1).contiguous().numpy()


def crop_offsets(
    n_crops: int,
    resize_hw: Sequence[int],
    crop: int,
    *,
    mode: str = "center",
    seed: int = 0,
) -> list[tuple[int, int]]:
    """``(top, left)`` of the fixed crops: centre; ``fixed_k``: centre, then the four corners,
    then the edge midpoints (K <= 9), then seeded random positions for any further crop.
    """
    if mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode {mode!r}; expected one of {CROP_MODES}")
    if mode == "random":
        raise ValueError("crop mode 'random' has offsets per item: use item_crop_offsets")
    h, w = int(resize_hw[0]), int(resize_hw[1])
    if crop > h or crop > w:
        raise ValueError(f"crop {crop} larger than the resized frame {h}x{w}")
    if n_crops < 1:
        raise ValueError("n_crops must be >= 1")
    dy, dx = h - crop, w - crop
    center = (dy // 2, dx // 2)
    if mode == "center":
        if n_crops != 1:
            raise ValueError("crop mode 'center' has exactly one crop (use 'fixed_k' for K > 1)")
        return [center]
    grid = [
        center,
        (0, 0),
        (0, dx),
        (dy, 0),
        (dy, dx),
        (0, dx // 2),
        (dy, dx // 2),
        (dy // 2, 0),
        (dy // 2, dx),
    ]
    out = grid[:n_crops]
    rng = np.random.default_rng(seed)
    while len(out) < n_crops:
        out.append((int(rng.integers(0, dy + 1)), int(rng.integers(0, dx + 1))))
    return out


def item_crop_offsets(
    n_crops: int, resize_hw: Sequence[int], crop: int, *, seed: int, item: str
) -> list[tuple[int, int]]:
    """K uniformly random ``(top, left)`` of one item, reproducible from ``(seed, item)``: the
    paper's random 112 crop per clip (every position possible), K of them cached per clip."""
    if n_crops < 1:
        raise ValueError("n_crops must be >= 1")
    dy, dx = int(resize_hw[0]) - crop, int(resize_hw[1]) - crop
    if dy < 0 or dx < 0:
        raise ValueError(f"crop {crop} larger than the resized frame {resize_hw[0]}x{resize_hw[1]}")
    digest = hashlib.sha256(f"{int(seed)}:{item}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return [(int(rng.integers(0, dy + 1)), int(rng.integers(0, dx + 1))) for _ in range(n_crops)]


def random_crop_offset(
    resize_hw: Sequence[int], crop: int, generator: torch.Generator | None = None
) -> tuple[int, int]:
    """A uniformly random ``(top, left)`` (the paper's pre-training augmentation)."""
    dy, dx = int(resize_hw[0]) - crop, int(resize_hw[1]) - crop
    top = int(torch.randint(0, dy + 1, (1,), generator=generator))
    left = int(torch.randint(0, dx + 1, (1,), generator=generator))
    return top, left


def normalize_crop(
    frames: np.ndarray | torch.Tensor,
    offset: tuple[int, int],
    crop: int,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` -> normalised float32 ``[T, 3, crop, crop]`` at ``offset``."""
    t = torch.as_tensor(frames)
    top, left = offset
    patch = t[:, top : top + crop, left : left + crop, :].permute(0, 3, 1, 2).float()
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
    return ((patch - m) / s).contiguous()


def filled_image(value: float, crop: int, n: int = 1) -> torch.Tensor:
    """``[n, 3, crop, crop]`` input tensor filled with ``value`` (MASK = -1.0, PAD = 0.0)."""
    return torch.full((n, 3, crop, crop), float(value), dtype=torch.float32)
