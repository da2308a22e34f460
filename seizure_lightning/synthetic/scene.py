"""Compose frames of one video: room, patient, blanket, nurse, lighting, night mode, noise."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .figure import Appearance, capsule_boxes, draw_frame_capsules, nurse_capsules, patient_capsules
from .motion import Motion, ou_noise
from .room import Room

_GRAY = np.array([0.299, 0.587, 0.114], np.float32)
_IR_TINT = np.array([1.0, 1.0, 1.0], np.float32)


@dataclass
class Scene:
    """Everything needed to render one video."""

    room: Room
    appearance: Appearance
    motion: Motion
    night: bool
    blanket: np.ndarray | None  # blanket colour, None = no blanket
    nurse_colors: tuple[np.ndarray, np.ndarray, np.ndarray]  # scrubs, skin, hair
    seed: int

    def _pixels(self, caps: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        p0, p1, r, colors = caps
        s = self.room.scale * self.appearance.length
        return (
            self.room.to_px(p0 * self.appearance.length),
            self.room.to_px(p1 * self.appearance.length),
            r * s,
            colors,
        )

    def patient_px(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """Patient capsules in pixels: p0, p1 [T, K, 2], r [T, K], colours."""
        return self._pixels(patient_capsules(self.motion, self.appearance, self.blanket))

    def boxes(self) -> np.ndarray:
        """Patient box track [T, 4] (x1, y1, x2, y2) in pixels, with detector-like jitter."""
        p0, p1, r, _ = self.patient_px()
        box = capsule_boxes(p0, p1, r)
        rng = np.random.default_rng([self.seed, 7])
        n = len(box)
        dt = float(self.motion.t[1] - self.motion.t[0]) if n > 1 else 0.04
        jitter = np.stack([ou_noise(rng, n, dt, 0.3) for _ in range(4)], axis=1)
        box = box + np.array([-2.0, -2.0, 2.0, 2.0]) + 1.2 * jitter
        box[:, [0, 2]] = np.clip(box[:, [0, 2]], 0, self.room.width)
        box[:, [1, 3]] = np.clip(box[:, [1, 3]], 0, self.room.height)
        box[:, 2] = np.maximum(box[:, 2], np.minimum(box[:, 0] + 2, self.room.width))
        box[:, 3] = np.maximum(box[:, 3], np.minimum(box[:, 1] + 2, self.room.height))
        box[:, 0] = np.minimum(box[:, 0], box[:, 2] - 1)
        box[:, 1] = np.minimum(box[:, 1], box[:, 3] - 1)
        return np.round(box, 1)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield RGB uint8 frames [H, W, 3]."""
        room, m = self.room, self.motion
        h, w = room.height, room.width
        rng = np.random.default_rng([self.seed, 11])
        p0, p1, r, colors = self.patient_px()
        nurse = self._pixels(nurse_capsules(m, *self.nurse_colors))
        std = room.noise_std * (1.5 if self.night else 1.0)
        pad = 24
        bank = (rng.standard_normal((h + pad, w + pad)) * std).astype(np.float32)
        offsets = rng.integers(0, pad, (len(m.t), 2))
        img = np.empty((h, w, 3), np.float32)
        for i in range(len(m.t)):
            img[:] = room.background
            if m.present[i]:
                draw_frame_capsules(img, p0[i], p1[i], r[i], colors)
            if m.nurse_present[i]:
                draw_frame_capsules(img, nurse[0][i], nurse[1][i], nurse[2][i], nurse[3])
            img *= room.light
            gain = float(m.light[i])
            if self.night:
                gray = img @ (_GRAY * (gain * room.night_gain))
                gray += bank[offsets[i, 0] : offsets[i, 0] + h, offsets[i, 1] : offsets[i, 1] + w]
                frame = np.clip(gray, 0, 255).astype(np.uint8)
                yield np.repeat(frame[..., None], 3, axis=2)
                continue
            img *= gain
            img += bank[offsets[i, 0] : offsets[i, 0] + h, offsets[i, 1] : offsets[i, 1] + w, None]
            yield np.clip(img, 0, 255).astype(np.uint8)
