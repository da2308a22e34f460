"""The articulated patient (and the nurse): skeleton from joint signals, capsules, rasterisation.

Body coordinates are in body lengths: ``x`` runs along the bed towards the feet (hips at 0, head
at about -0.43), ``y`` is lateral (patient's left negative). Every body part is a capsule (a
segment with a radius); drawing computes the distance to the segment only inside the capsule's
bounding box, vectorised with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .motion import CHANNEL_GAIN, N_CH, Motion

COLOR_KEYS = ("skin", "gown", "legwear", "hair", "blanket", "scrubs")


@dataclass(frozen=True)
class Appearance:
    """How one subject looks: colours, body proportions and rest pose."""

    colors: dict[str, np.ndarray]
    length: float
    width: float
    rest: np.ndarray  # [N_CH] rest pose (radians / body lengths)


def make_appearance(rng: np.random.Generator) -> Appearance:
    """A random patient (class-independent)."""
    tone = rng.uniform(0.35, 1.0)
    skin = np.array([235, 190, 160]) * tone + np.array([20, 15, 10]) * (1 - tone)
    gown = _muted(rng, 90, 220)
    legwear = gown if rng.random() < 0.5 else _muted(rng, 40, 200)
    hair = np.array([30, 25, 20]) + rng.uniform(0, 1) * np.array([150, 110, 60])
    rest = np.zeros(N_CH)
    rest[[0, 2]] = rng.uniform(0.15, 0.45, 2)
    rest[[1, 3]] = rng.uniform(0.05, 0.4, 2)
    rest[[4, 6]] = rng.uniform(0.03, 0.12, 2)
    rest[[5, 7]] = rng.uniform(0.0, 0.15, 2)
    colors = {"skin": skin, "gown": gown, "legwear": legwear, "hair": hair}
    return Appearance(
        colors={k: np.asarray(v, np.float32) for k, v in colors.items()},
        length=float(rng.uniform(0.9, 1.05)),
        width=float(rng.uniform(0.85, 1.2)),
        rest=rest.astype(np.float32),
    )


def _muted(rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    base = rng.uniform(lo, hi)
    return np.clip(base + rng.normal(0, 30, 3), 20, 235).astype(np.float32)


def _dirs(angle: np.ndarray, side: float) -> np.ndarray:
    return np.stack([np.cos(angle), side * np.sin(angle)], axis=-1)


def patient_capsules(
    m: Motion, app: Appearance, blanket: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Capsules of the patient for every frame, drawing order back to front.

    Returns ``p0, p1`` [T, K, 2] and ``r`` [T, K] in body lengths and K colours.
    """
    ang = app.rest[None, :] + CHANNEL_GAIN[None, :] * m.channels  # [T, N_CH]
    ts, w, n = m.torso, app.width, len(m.t)
    trunk, head_d, pelvis_d = ang[:, 10], ang[:, 8], ang[:, 9]
    z = np.zeros(n)

    def pt(x, y):
        return np.stack([np.broadcast_to(x, (n,)), np.broadcast_to(y, (n,))], axis=-1)

    head = pt(-0.43 * ts, trunk + head_d)
    neck = pt(-0.33 * ts, trunk)
    pelvis = pt(0.02 + pelvis_d, 0.5 * trunk + 0.3 * pelvis_d)
    caps: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    col = app.colors
    arms = []
    for side, (i_sh, i_el, i_hip, i_kn) in ((-1.0, (0, 1, 4, 5)), (1.0, (2, 3, 6, 7))):
        hip = pelvis + pt(z, side * 0.065 * w)
        knee = hip + 0.23 * _dirs(ang[:, i_hip], side)
        a2 = ang[:, i_hip] + 0.4 * ang[:, i_kn]
        foot = knee + 0.26 * _dirs(a2, side)
        caps += [
            (hip, knee, np.full(n, 0.05 * w), col["legwear"]),
            (knee, foot, np.full(n, 0.038 * w), col["legwear"]),
        ]
        sh = pt(-0.31 * ts, trunk + side * 0.11 * w * m.breath)
        elbow = sh + 0.16 * _dirs(ang[:, i_sh], side)
        a2 = ang[:, i_sh] - ang[:, i_el]
        hand = elbow + 0.18 * _dirs(a2, side)
        arms += [
            (sh, elbow, np.full(n, 0.034 * w), col["gown"]),
            (elbow, hand, np.full(n, 0.028 * w), col["skin"]),
        ]
    caps.append((neck, pelvis, 0.1 * w * m.breath, col["gown"]))
    caps.append((pelvis - pt(0.05, z), pelvis, np.full(n, 0.085 * w), col["gown"]))
    if blanket is not None:
        knees_y = 0.5 * (caps[0][1][:, 1] + caps[2][1][:, 1])
        b0 = pt(0.06 + 0.3 * pelvis_d, 0.3 * knees_y)
        b1 = pt(0.5, 0.4 * knees_y)
        caps.append((b0, b1, np.full(n, 0.17 * w), blanket))
    caps += arms
    caps.append((head, head, np.full(n, 0.062), col["skin"]))
    hair_c = head + pt(-0.02 * ts, z)
    caps.append((hair_c, hair_c - pt(0.015, z), np.full(n, 0.05), col["hair"]))
    p0 = np.stack([c[0] for c in caps], axis=1)
    p1 = np.stack([c[1] for c in caps], axis=1)
    r = np.stack([c[2] for c in caps], axis=1)
    return p0, p1, r, [c[3] for c in caps]


def nurse_capsules(
    m: Motion, scrubs: np.ndarray, skin: np.ndarray, hair: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Capsules of the nurse/visitor standing beside the bed (seen from above)."""
    x, y, reach = m.nurse[:, 0], m.nurse[:, 1], m.nurse[:, 2]
    side = np.sign(y + 1e-6)
    n = len(m.t)

    def pt(px, py):
        return np.stack([np.broadcast_to(px, (n,)), np.broadcast_to(py, (n,))], axis=-1)

    caps = [
        (pt(x, y), pt(x, y + side * 0.14), np.full(n, 0.1), scrubs),
        (pt(x - 0.12, y), pt(x + 0.12, y), np.full(n, 0.065), scrubs),
    ]
    for dx in (-0.1, 0.1):
        elbow = pt(x + dx * 1.1, y - side * (0.06 + 0.1 * reach))
        hand = pt(x + dx * 0.8, y - side * (0.1 + 0.25 * reach))
        caps += [
            (pt(x + dx, y), elbow, np.full(n, 0.03), scrubs),
            (elbow, hand, np.full(n, 0.026), skin),
        ]
    caps.append((pt(x, y), pt(x, y), np.full(n, 0.065), hair))
    p0 = np.stack([c[0] for c in caps], axis=1)
    p1 = np.stack([c[1] for c in caps], axis=1)
    r = np.stack([c[2] for c in caps], axis=1)
    return p0, p1, r, [c[3] for c in caps]


def draw_capsule(
    img: np.ndarray,
    p0: tuple[float, float],
    p1: tuple[float, float],
    r: float,
    color: np.ndarray,
    alpha: float = 1.0,
) -> None:
    """Alpha-blend a shaded capsule into ``img`` [H, W, 3] float32, in place."""
    h, w = img.shape[:2]
    ax, ay = p0
    bx, by = p1
    x0, x1 = max(int(min(ax, bx) - r - 1), 0), min(int(max(ax, bx) + r + 2), w)
    y0, y1 = max(int(min(ay, by) - r - 1), 0), min(int(max(ay, by) + r + 2), h)
    if x0 >= x1 or y0 >= y1 or r <= 0:
        return
    xs = np.arange(x0 - ax, x1 - ax, dtype=np.float32)[None, :]
    ys = np.arange(y0 - ay, y1 - ay, dtype=np.float32)[:, None]
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    if l2 > 1e-6:
        hh = xs * (dx / l2) + ys * (dy / l2)
        np.minimum(np.maximum(hh, 0.0, out=hh), 1.0, out=hh)
        ex, ey = xs - hh * dx, ys - hh * dy
    else:
        ex, ey = xs, ys
    d2 = ex * ex + ey * ey
    a = (r + 0.5) - np.sqrt(d2)
    np.minimum(np.maximum(a, 0.0, out=a), alpha, out=a)
    shade = 1.0 - d2 * (1.0 / (r * r))
    np.sqrt(np.maximum(shade, 0.0, out=shade), out=shade)
    shade = shade[..., None] * (0.3 * color) + 0.7 * color
    patch = img[y0:y1, x0:x1]
    patch += a[..., None] * (shade - patch)


def draw_frame_capsules(
    img: np.ndarray, p0: np.ndarray, p1: np.ndarray, r: np.ndarray, colors: list[np.ndarray]
) -> None:
    """Draw one frame's capsules (pixel units) back to front."""
    for a, b, rad, color in zip(p0.tolist(), p1.tolist(), r.tolist(), colors):
        draw_capsule(img, a, b, rad, color)


def capsule_boxes(p0: np.ndarray, p1: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Tight boxes [T, 4] (x1, y1, x2, y2) around all capsules of each frame (pixel units)."""
    lo = np.minimum(p0, p1) - r[..., None]
    hi = np.maximum(p0, p1) + r[..., None]
    return np.concatenate([lo.min(axis=1), hi.max(axis=1)], axis=1)
