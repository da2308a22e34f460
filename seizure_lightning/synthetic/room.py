"""Per-subject room: static background with bed, camera placement, lighting and noise level.

Each subject gets its own room, so identity is visible in every frame (a model that memorises
rooms gains nothing under leave-one-subject-out). All draws are class-independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Room:
    """Camera view of one subject's bed; maps body coordinates to pixels."""

    width: int
    height: int
    background: np.ndarray  # [H, W, 3] float32, 0..255, bed included, unlit
    light: np.ndarray  # [H, W, 3] float32 lighting (gain, gradient, colour tint)
    origin: np.ndarray  # [2] pixel position of body (0, 0)
    axis: np.ndarray  # [2] pixel direction of body +x (towards the feet)
    normal: np.ndarray  # [2] pixel direction of body +y
    scale: float  # pixels per body length
    noise_std: float  # camera noise (0..255 units)
    night_gain: float  # brightness of the infrared night image

    def to_px(self, pts: np.ndarray) -> np.ndarray:
        """Body coordinates [..., 2] -> pixel coordinates [..., 2]."""
        return (
            self.origin
            + self.scale * pts[..., :1] * self.axis
            + self.scale * pts[..., 1:2] * self.normal
        ).astype(np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] of shape [h, w] (bilinear upsampling of a coarse grid)."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.uniform(-1.0, 1.0, (gh, gw))
    yi = np.linspace(0, gh - 1.001, h)
    xi = np.linspace(0, gw - 1.001, w)
    y0, x0 = yi.astype(int), xi.astype(int)
    fy, fx = (yi - y0)[:, None], (xi - x0)[None, :]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    return g00 * (1 - fy) * (1 - fx) + g01 * (1 - fy) * fx + g10 * fy * (1 - fx) + g11 * fy * fx


def fill_rect(
    img: np.ndarray,
    center: np.ndarray,
    axis: np.ndarray,
    half: tuple[float, float],
    color: np.ndarray,
    rounding: float = 0.0,
) -> None:
    """Paint an oriented (rounded) rectangle with anti-aliased edges, in place."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - center[0], ys - center[1]
    u = np.abs(dx * axis[0] + dy * axis[1]) - (half[0] - rounding)
    v = np.abs(-dx * axis[1] + dy * axis[0]) - (half[1] - rounding)
    outside = np.hypot(np.maximum(u, 0), np.maximum(v, 0)) + np.minimum(np.maximum(u, v), 0)
    a = np.clip(rounding + 0.5 - outside, 0.0, 1.0)[..., None]
    img += a * (np.asarray(color, np.float32) - img)


def make_room(
    rng: np.random.Generator, width: int, height: int, noise_range: tuple[float, float]
) -> Room:
    """A random room and camera for one subject."""
    floor = np.clip(rng.uniform(70, 190) + rng.normal(0, 25, 3), 30, 230)
    bg = np.empty((height, width, 3), np.float32)
    bg[:] = floor
    bg += (12 * smooth_noise(rng, height, width, max(8, width // 10)))[..., None]
    tile = int(rng.integers(12, 40))
    if rng.random() < 0.6:
        lines = np.zeros((height, width), np.float32)
        lines[::tile, :] = 1.0
        lines[:, ::tile] = 1.0
        bg -= rng.uniform(5, 18) * lines[..., None]
    for _ in range(int(rng.integers(2, 5))):  # furniture, monitor, cabinet, window patches
        c = np.array([rng.uniform(0, width), rng.uniform(0, height)])
        half = (rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.25) * height)
        color = np.clip(rng.uniform(20, 240) + rng.normal(0, 20, 3), 0, 255)
        fill_rect(bg, c, np.array([1.0, 0.0]), half, color, rounding=2.0)

    zoom = rng.uniform(0.8, 1.1)
    scale = zoom * 0.62 * min(width, 1.45 * height)
    angle = rng.uniform(-0.15, 0.15) + (np.pi if rng.random() < 0.5 else 0.0)
    axis = np.array([np.cos(angle), np.sin(angle)], np.float32)
    normal = np.array([-axis[1], axis[0]], np.float32)
    origin = np.array(
        [
            width / 2 + rng.uniform(-0.07, 0.07) * width,
            height / 2 + rng.uniform(-0.08, 0.08) * height,
        ],
        np.float32,
    )
    frame_col = np.clip(rng.uniform(40, 120) + rng.normal(0, 10, 3), 0, 255)
    sheet = np.clip(rng.uniform(185, 240) + rng.normal(0, 10, 3), 0, 255)
    bed_c = origin + scale * 0.02 * axis
    fill_rect(bg, bed_c, axis, (0.62 * scale, 0.3 * scale), frame_col, rounding=4.0)
    fill_rect(bg, bed_c, axis, (0.58 * scale, 0.26 * scale), sheet, rounding=3.0)
    pillow_c = origin - 0.45 * scale * axis
    fill_rect(bg, pillow_c, axis, (0.07 * scale, 0.17 * scale), sheet * 0.93, rounding=3.0)

    ramp_dir = rng.normal(size=2)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    grad = (xs / width - 0.5) * ramp_dir[0] + (ys / height - 0.5) * ramp_dir[1]
    tint = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    light = (rng.uniform(0.7, 1.1) * (1.0 + 0.25 * grad))[..., None] * tint
    return Room(
        width=width,
        height=height,
        background=np.clip(bg, 0, 255).astype(np.float32),
        light=light.astype(np.float32),
        origin=origin,
        axis=axis,
        normal=normal,
        scale=float(scale),
        noise_std=float(rng.uniform(*noise_range)),
        night_gain=float(rng.uniform(0.5, 0.8)),
    )
