"""Kinematics of the synthetic patient: seizures (ES, PNES) and contextual activities.

A motion is a set of per-frame signals. ``channels`` holds one value per joint channel (see
``CHANNELS``) in "signal units": the figure multiplies them by ``CHANNEL_GAIN`` and adds the
patient's rest pose. ES and PNES are built from the SAME ingredients with the SAME marginal
distributions (posture offsets, per-channel gains, jerk waveform, time share of the static
posture), so a single frame does not tell the class; they differ only in temporal organisation:

- ES: tonic posture with fine tremor, then clonic jerks synchronous over all channels (phase
  spread drawn per seizure) whose frequency decays log-linearly from ~3-4 Hz to ~1-1.6 Hz,
  slowly declining amplitude, abrupt end.
- PNES: each channel with its own phase (partly coupled to a common rhythm in some seizures) and
  an irregular (random-walk) frequency, waxing-waning amplitude interrupted by pauses holding a
  posture, gradual fade-out.

A seizure with a swapped envelope (``swap=True``, ``SynthConfig.envelope_swap``) keeps its class's
organisation and takes the other class's envelope, both at a steady rate from one shared range:

- ES, swapped: every channel in phase at a regular rate, under PNES's envelope (waxing-waning
  amplitude, pauses holding a posture, gradual fade-out; no tonic onset).
- PNES, swapped: every channel at its own wandering phase around a shared, irregular rate, under
  ES's envelope (a held posture with fine tremor, then movement whose amplitude declines slowly,
  abrupt end; no pauses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANNELS: tuple[str, ...] = (
    "l_shoulder",
    "l_elbow",
    "r_shoulder",
    "r_elbow",
    "l_hip",
    "l_knee",
    "r_hip",
    "r_knee",
    "head",
    "pelvis",
    "trunk",
)
N_CH = len(CHANNELS)
# radians for limb joints, body lengths for head / pelvis / trunk displacements
CHANNEL_GAIN = np.array(
    [0.55, 0.7, 0.55, 0.7, 0.22, 0.3, 0.22, 0.3, 0.045, 0.03, 0.02], dtype=np.float32
)
ACTIVITIES: tuple[str, ...] = ("sleep", "restless", "eat", "sit_up", "visitor", "check", "empty")
# rhythmic everyday movements of a seizure-free EMU patient, laid over contextual video
# (``rhythmic_bouts``): name -> (channel groups, one drawn per bout; frequency range, Hz;
# amplitude range, signal units). Local (one limb, the head or the trunk) and at a steady or
# drifting rate: neither class's organisation (ES: all channels together at a decaying rate;
# PNES: every channel at its own wandering rate)
RHYTHMS: dict[str, tuple[tuple[tuple[int, ...], ...], tuple[float, float], tuple[float, float]]] = {
    "scratch": (((0, 1), (2, 3)), (2.5, 5.0), (0.3, 0.7)),
    "tap": (((4, 5), (6, 7)), (1.5, 3.0), (0.3, 0.8)),
    "gesture": (((0, 1), (2, 3), (0, 1, 2, 3)), (0.8, 2.0), (0.4, 1.0)),
    "chew": (((8,),), (1.0, 2.0), (0.5, 1.0)),
    "rock": (((9, 10), (8, 9, 10)), (0.6, 1.5), (0.5, 1.0)),
}


@dataclass
class Motion:
    """Per-frame signals of one video (``T`` frames)."""

    t: np.ndarray  # [T] seconds
    channels: np.ndarray  # [T, N_CH] signal units
    torso: np.ndarray  # [T] torso foreshortening (1 lying flat, ~0.6 sitting up)
    breath: np.ndarray  # [T] chest width multiplier
    present: np.ndarray  # [T] bool, patient in bed
    nurse: np.ndarray  # [T, 3] nurse x, y (body lengths, patient frame) and arm reach 0..1
    nurse_present: np.ndarray  # [T] bool
    light: np.ndarray  # [T] global lighting gain (flicker)

    @classmethod
    def still(cls, t: np.ndarray) -> Motion:
        n = len(t)
        return cls(
            t=t,
            channels=np.zeros((n, N_CH), np.float32),
            torso=np.ones(n, np.float32),
            breath=np.ones(n, np.float32),
            present=np.ones(n, bool),
            nurse=np.zeros((n, 3), np.float32),
            nurse_present=np.zeros(n, bool),
            light=np.ones(n, np.float32),
        )


def concat(parts: list[Motion], t: np.ndarray) -> Motion:
    """Join consecutive motions into one on the time axis ``t``."""
    cat = {
        name: np.concatenate([getattr(p, name) for p in parts])
        for name in ("channels", "torso", "breath", "present", "nurse", "nurse_present", "light")
    }
    return Motion(t=t, **cat)


# ----------------------------------------------------------------------------- helpers
def ou_noise(rng: np.random.Generator, n: int, dt: float, tau: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process with unit stationary std and time constant ``tau``."""
    a = float(np.exp(-dt / tau))
    eps = rng.standard_normal(n) * np.sqrt(1.0 - a * a)
    out = np.empty(n)
    x = rng.standard_normal()
    for i in range(n):  # n is a frame count (<= a few thousand): cheap
        x = a * x + eps[i]
        out[i] = x
    return out


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def ramp(t: np.ndarray, start: float, width: float) -> np.ndarray:
    """0 before ``start``, smooth rise to 1 over ``width`` seconds."""
    return smoothstep((t - start) / max(width, 1e-6))


def jerk(phase: np.ndarray) -> np.ndarray:
    """The movement waveform shared by both classes: fast flexion, slower relaxation."""
    return np.sin(phase + 0.6 * np.sin(phase))


def posture(rng: np.random.Generator) -> np.ndarray:
    """A held posture (tonic stiffening / pause): same distribution for both classes."""
    return rng.normal(0.0, 0.6, N_CH)


def channel_gains(rng: np.random.Generator) -> np.ndarray:
    """Per-channel movement amplitude of one seizure: same distribution for both classes."""
    return rng.uniform(0.5, 1.4) * rng.uniform(0.4, 1.0, N_CH)


def flicker(rng: np.random.Generator, t: np.ndarray, prob: float) -> np.ndarray:
    """Lighting gain: slow exposure drift, plus (with ``prob``) periodic flicker and dips."""
    dt = float(t[1] - t[0]) if len(t) > 1 else 0.04
    light = 1.0 + 0.015 * ou_noise(rng, len(t), dt, 3.0)
    if rng.random() < prob:
        f = rng.uniform(0.3, 3.0)
        light += rng.uniform(0.01, 0.035) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        for _ in range(rng.integers(0, 3)):
            c = rng.uniform(t[0], t[-1] + dt)
            light -= rng.uniform(0.03, 0.1) * np.exp(-(((t - c) / 0.1) ** 2))
    return light.astype(np.float32)


# ----------------------------------------------------------------------------- seizures
def seizure(rng: np.random.Generator, t: np.ndarray, label: str, swap: bool = False) -> np.ndarray:
    """Channel signals [T, N_CH] of one seizure of class ``label`` ("ES" or "PNES"); ``swap``:
    with the other class's envelope."""
    if label == "ES":
        return _es_swapped(rng, t) if swap else _es(rng, t)
    if label == "PNES":
        return _pnes_swapped(rng, t) if swap else _pnes(rng, t)
    raise ValueError(f"unknown seizure label {label!r}")


def _shared_draws(rng: np.random.Generator, t: np.ndarray) -> dict:
    """Draws whose distribution both classes share (so single frames match)."""
    dt = float(t[1] - t[0])
    dur = float(t[-1] + dt)
    return {
        "dt": dt,
        "dur": dur,
        "onset": rng.uniform(0.0, 0.6),
        "static_frac": rng.uniform(0.1, 0.25),
        "posture": posture(rng),
        "gains": channel_gains(rng),
    }


def _es(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    d = _shared_draws(rng, t)
    dt, dur, onset = d["dt"], d["dur"], d["onset"]
    tonic_end = onset + d["static_frac"] * dur
    clonic_end = dur - rng.uniform(0.3, 1.0)
    span = max(clonic_end - tonic_end, dt)
    u = np.clip((t - tonic_end) / span, 0.0, 1.0)
    f0, f1 = rng.uniform(3.0, 4.0), rng.uniform(0.8, 1.6)
    freq = f0 * (f1 / f0) ** u * np.exp(rng.uniform(0.03, 0.15) * ou_noise(rng, len(t), dt, 0.5))
    phase = 2 * np.pi * np.cumsum(freq) * dt + rng.uniform(0, 2 * np.pi)
    # synchronous across channels; some seizures (focal / hypermotor-like) less tightly
    offsets = rng.normal(0.0, rng.uniform(0.1, 0.9), N_CH)
    wave = jerk(phase[:, None] + offsets[None, :])
    active = ramp(t, tonic_end, 0.3) * (1.0 - ramp(t, clonic_end, rng.uniform(0.1, 0.8)))
    env = active * (1.0 - 0.4 * u)
    hold = ramp(t, onset, 0.4) * (1.0 - smoothstep(u / 0.3))
    tremor_f = rng.uniform(6.0, 10.0)
    tremor = 0.08 * np.sin(2 * np.pi * tremor_f * t[:, None] + rng.uniform(0, 2 * np.pi, N_CH))
    sig = hold[:, None] * (d["posture"][None, :] + tremor) + env[:, None] * d["gains"] * wave
    return sig.astype(np.float32)


def _pnes(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    d = _shared_draws(rng, t)
    dt, dur, onset = d["dt"], d["dur"], d["onset"]
    fade = rng.uniform(0.08, 0.3) * dur
    base_f = rng.uniform(1.2, 3.5)
    f_ch = base_f * np.exp(rng.normal(0.0, 0.25, N_CH))
    walk = np.stack([ou_noise(rng, len(t), dt, 1.0) for _ in range(N_CH)], axis=1)
    freq = f_ch[None, :] * np.exp(rng.uniform(0.15, 0.35) * walk)
    phase = 2 * np.pi * np.cumsum(freq, axis=0) * dt + rng.uniform(0, 2 * np.pi, N_CH)
    # partial coupling to a common rhythm: some PNES look more synchronous than others
    common = 2 * np.pi * np.cumsum(base_f * np.exp(0.3 * walk[:, 0])) * dt
    coupling = rng.uniform(0.0, 0.6)
    wave = jerk((1.0 - coupling) * phase + coupling * common[:, None])
    period = rng.uniform(4.0, 10.0)
    wax = 0.6 + 0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))
    pause = _pauses(rng, t, onset + 1.0, dur - fade, d["static_frac"] * dur)
    env = ramp(t, onset, rng.uniform(0.5, 1.5)) * wax * (1.0 - pause)
    env *= 1.0 - smoothstep((t - (dur - fade)) / fade)
    sig = pause[:, None] * d["posture"][None, :] + env[:, None] * d["gains"] * wave
    return sig.astype(np.float32)


#: the steady rate of a swapped seizure, either class (Hz): PNES's base range
SWAP_RATE_HZ = (1.2, 3.5)


def _es_envelope(rng: np.random.Generator, t: np.ndarray, d: dict) -> tuple:
    """ES's envelope: ``(hold [T], tremor [T, N_CH], env [T])``: a held posture with fine tremor
    from onset, movement from the end of the tonic phase whose amplitude declines slowly, abrupt
    end."""
    dt, dur, onset = d["dt"], d["dur"], d["onset"]
    tonic_end = onset + d["static_frac"] * dur
    clonic_end = dur - rng.uniform(0.3, 1.0)
    u = np.clip((t - tonic_end) / max(clonic_end - tonic_end, dt), 0.0, 1.0)
    active = ramp(t, tonic_end, 0.3) * (1.0 - ramp(t, clonic_end, rng.uniform(0.1, 0.8)))
    hold = ramp(t, onset, 0.4) * (1.0 - smoothstep(u / 0.3))
    tremor_f = rng.uniform(6.0, 10.0)
    tremor = 0.08 * np.sin(2 * np.pi * tremor_f * t[:, None] + rng.uniform(0, 2 * np.pi, N_CH))
    return hold, tremor, active * (1.0 - 0.4 * u)


def _pnes_envelope(rng: np.random.Generator, t: np.ndarray, d: dict) -> tuple:
    """PNES's envelope: ``(pause [T], env [T])``: waxing-waning amplitude interrupted by pauses
    holding a posture, gradual fade-out."""
    dur, onset = d["dur"], d["onset"]
    fade = rng.uniform(0.08, 0.3) * dur
    period = rng.uniform(4.0, 10.0)
    wax = 0.6 + 0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)))
    pause = _pauses(rng, t, onset + 1.0, dur - fade, d["static_frac"] * dur)
    env = ramp(t, onset, rng.uniform(0.5, 1.5)) * wax * (1.0 - pause)
    return pause, env * (1.0 - smoothstep((t - (dur - fade)) / fade))


def _es_swapped(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    d = _shared_draws(rng, t)
    dt = d["dt"]
    freq = rng.uniform(*SWAP_RATE_HZ) * np.exp(
        rng.uniform(0.03, 0.15) * ou_noise(rng, len(t), dt, 0.5))
    phase = 2 * np.pi * np.cumsum(freq) * dt + rng.uniform(0, 2 * np.pi)
    offsets = rng.normal(0.0, rng.uniform(0.1, 0.9), N_CH)
    wave = jerk(phase[:, None] + offsets[None, :])
    pause, env = _pnes_envelope(rng, t, d)
    sig = pause[:, None] * d["posture"][None, :] + env[:, None] * d["gains"] * wave
    return sig.astype(np.float32)


def _pnes_swapped(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    d = _shared_draws(rng, t)
    dt = d["dt"]
    walk = ou_noise(rng, len(t), dt, 1.0)
    freq = rng.uniform(*SWAP_RATE_HZ) * np.exp(rng.uniform(0.15, 0.35) * walk)
    shared = 2 * np.pi * np.cumsum(freq) * dt
    # each channel's own phase: a random offset that wanders (about 1 rad within a second)
    wander = np.stack([ou_noise(rng, len(t), dt, 1.0) for _ in range(N_CH)], axis=1)
    phase = shared[:, None] + rng.uniform(0, 2 * np.pi, N_CH) + rng.uniform(0.6, 1.2) * wander
    hold, tremor, env = _es_envelope(rng, t, d)
    sig = hold[:, None] * (d["posture"][None, :] + tremor) + env[:, None] * d["gains"] * jerk(phase)
    return sig.astype(np.float32)


def _pauses(
    rng: np.random.Generator, t: np.ndarray, lo: float, hi: float, total: float
) -> np.ndarray:
    """1-3 pauses of ``total`` seconds in all, placed in [lo, hi]; smooth 0..1 indicator."""
    out = np.zeros_like(t)
    n = int(rng.integers(1, 4))
    lengths = rng.dirichlet(np.ones(n)) * total
    room = hi - lo - lengths.sum()
    if room <= 0:
        lengths *= max(hi - lo, 0.0) / max(lengths.sum(), 1e-6) * 0.8
        room = hi - lo - lengths.sum()
    gaps = np.sort(rng.uniform(0.0, max(room, 0.0), n))
    start = lo
    prev = 0.0
    for gap, length in zip(gaps, lengths):
        start += gap - prev
        prev = gap
        out = np.maximum(out, ramp(t, start, 0.3) * (1.0 - ramp(t, start + length, 0.3)))
        start += length
    return out


# ----------------------------------------------------------------------------- context
def contextual(
    rng: np.random.Generator, t: np.ndarray, activities: list[tuple[str, float]]
) -> Motion:
    """Motion of a seizure-free recording: consecutive activity segments (name, seconds)."""
    m = Motion.still(t)
    dt = float(t[1] - t[0]) if len(t) > 1 else 0.04
    base = np.zeros(N_CH)
    i0 = 0
    for k, (name, seconds) in enumerate(activities):
        i1 = len(t) if k == len(activities) - 1 else min(len(t), i0 + round(seconds / dt))
        if i1 <= i0:
            continue
        base = _activity(rng, m, slice(i0, i1), t[i0:i1] - t[i0], name, base)
        i0 = i1
    m.channels = _smooth(m.channels, max(1, round(0.4 / dt)))
    m.torso = _smooth(m.torso[:, None], max(1, round(0.6 / dt)))[:, 0]
    m.breath = 1.0 + 0.03 * np.sin(
        2 * np.pi * rng.uniform(0.2, 0.35) * t + rng.uniform(0, 2 * np.pi)
    ).astype(np.float32)
    return m


def activity_mask(t: np.ndarray, activities: list[tuple[str, float]], name: str) -> np.ndarray:
    """[T] bool: the frames of the segments of ``activities`` (as laid out by :func:`contextual`)
    that are activity ``name``."""
    out = np.zeros(len(t), bool)
    dt = float(t[1] - t[0]) if len(t) > 1 else 0.04
    i0 = 0
    for k, (act, seconds) in enumerate(activities):
        i1 = len(t) if k == len(activities) - 1 else min(len(t), i0 + round(seconds / dt))
        if i1 <= i0:
            continue
        out[i0:i1] = act == name
        i0 = i1
    return out


def rhythmic_bouts(
    rng: np.random.Generator, t: np.ndarray, present: np.ndarray, share: float
) -> np.ndarray:
    """Channel signals [T, N_CH] of rhythmic bouts (``RHYTHMS``) covering about ``share`` of ``t``.

    Bouts last 2-8 s with smooth onsets and ends; none while the bed is empty. ``share`` 0 gives
    zeros and draws nothing.
    """
    out = np.zeros((len(t), N_CH), np.float32)
    if share <= 0.0 or len(t) < 2:
        return out
    dt = float(t[1] - t[0])
    mean_gap = 5.0 * (1.0 - share) / share  # bouts average 5 s
    names = sorted(RHYTHMS)
    s = rng.exponential(mean_gap) if share < 1.0 else 0.0
    while s < t[-1]:
        length = rng.uniform(2.0, 8.0)
        groups, (f_lo, f_hi), (a_lo, a_hi) = RHYTHMS[names[int(rng.integers(len(names)))]]
        chans = list(groups[int(rng.integers(len(groups)))])
        freq = np.exp(rng.uniform(np.log(f_lo), np.log(f_hi)))
        drift = rng.uniform(0.0, 0.25) * ou_noise(rng, len(t), dt, 1.0)
        phase = 2 * np.pi * np.cumsum(freq * np.exp(drift)) * dt + rng.uniform(0, 2 * np.pi)
        edge = rng.uniform(0.3, 0.8)
        env = ramp(t, s, edge) * (1.0 - ramp(t, s + length - edge, edge))
        amp = rng.uniform(a_lo, a_hi)
        lag = rng.uniform(0.0, 0.5, len(chans))
        wave = np.sin(phase[:, None] + lag) + 0.3 * np.sin(2 * (phase[:, None] + lag) + 1.0)
        out[:, chans] += (amp * env[:, None] * wave).astype(np.float32)
        s += length + rng.exponential(mean_gap)
    return out * present[:, None].astype(np.float32)


def _smooth(x: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average along time (edges padded), same length."""
    if k <= 1:
        return x
    pad = np.pad(x, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), pad]), axis=0)
    return ((c[k:] - c[:-k]) / k).astype(np.float32)


def _shifts(rng: np.random.Generator, t: np.ndarray, base: np.ndarray, every: float, scale: float):
    """Piecewise-constant posture with smooth shifts roughly every ``every`` seconds."""
    sig = np.repeat(base[None, :], len(t), axis=0)
    cur = base.copy()
    s = rng.exponential(every)
    while s < t[-1]:
        new = cur.copy()
        idx = rng.choice(N_CH, size=int(rng.integers(1, 4)), replace=False)
        new[idx] = np.clip(cur[idx] + rng.normal(0, scale, len(idx)), -1.5, 1.5)
        w = ramp(t, s, rng.uniform(0.6, 1.5))[:, None]
        sig = sig * (1 - w) + new[None, :] * w
        cur = new
        s += rng.exponential(every) + 1.0
    return sig, cur


def _activity(
    rng: np.random.Generator, m: Motion, sl: slice, t: np.ndarray, name: str, base: np.ndarray
) -> np.ndarray:
    """Fill segment ``sl`` of ``m`` with activity ``name``; return the posture it ends in."""
    if name == "empty":
        m.present[sl] = False
        return np.zeros(N_CH)
    every, scale = {"sleep": (8.0, 0.3), "restless": (2.0, 0.6)}.get(name, (5.0, 0.3))
    sig, end = _shifts(rng, t, base, every, scale)
    if name == "eat":
        side = int(rng.integers(0, 2)) * 2
        period = rng.uniform(3.0, 6.0)
        ph = (
            2
            * np.pi
            * np.cumsum(np.exp(0.2 * ou_noise(rng, len(t), 0.04, 2.0)))
            * (t[1] - t[0] if len(t) > 1 else 0.04)
            / period
        )
        lift = (0.5 - 0.5 * np.cos(ph)) ** 2
        sig[:, side] += 0.8 * lift
        sig[:, side + 1] += 2.0 * lift
        sig[:, 8] += 0.3 * lift
    elif name == "sit_up":
        up = ramp(t, 0.2 * t[-1], 2.0) * (1 - ramp(t, 0.8 * t[-1], 2.0)) if len(t) else t
        m.torso[sl] = 1.0 - rng.uniform(0.25, 0.4) * up
        sig[:, [0, 2]] += 0.5 * up[:, None]
    elif name in ("visitor", "check"):
        _nurse(rng, m, sl, t, close=name == "check")
        if name == "check":
            side = int(rng.integers(0, 2)) * 2
            lift = ramp(t, 0.3 * t[-1], 1.5) * (1 - ramp(t, 0.7 * t[-1], 1.5))
            sig[:, side] += 1.2 * lift
        else:
            sig[:, 8] += 0.6 * np.sin(2 * np.pi * 0.3 * t) * ramp(t, 2.0, 1.0)
    m.channels[sl] = sig
    return end


def _nurse(rng: np.random.Generator, m: Motion, sl: slice, t: np.ndarray, close: bool) -> None:
    """A nurse/visitor walks in beside the bed, stays, (reaches), and walks out."""
    if len(t) < 2:
        return
    side = rng.choice([-1.0, 1.0])
    stand_x = rng.uniform(-0.35, 0.3)
    stand_y = side * (rng.uniform(0.42, 0.5) if close else rng.uniform(0.55, 0.75))
    far_x = stand_x + rng.choice([-1.0, 1.0]) * 1.6
    dur = t[-1]
    walk = min(2.5, 0.3 * dur)
    into = smoothstep(t / walk)
    out = smoothstep((t - (dur - walk)) / walk)
    x = far_x + (stand_x - far_x) * into + (far_x - stand_x) * out
    x += 0.02 * np.sin(2 * np.pi * 0.2 * t)
    if close:
        reach = into * (1 - out) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.15 * t))
    else:
        reach = np.full_like(t, 0.1)
    m.nurse[sl, 0] = x
    m.nurse[sl, 1] = stand_y + 0.01 * np.sin(2 * np.pi * 0.1 * t)
    m.nurse[sl, 2] = reach
    m.nurse_present[sl] = True


def seizure_nurse(rng: np.random.Generator, m: Motion, prob: float) -> None:
    """With ``prob``, a nurse is in view during part of a seizure video (class-independent)."""
    if rng.random() >= prob or len(m.t) < 10:
        return
    n = len(m.t)
    a = int(rng.integers(0, n // 2))
    b = int(rng.integers(a + n // 4, n + 1))
    _nurse(rng, m, slice(a, b), m.t[a:b] - m.t[a], close=bool(rng.random() < 0.5))


def random_activities(rng: np.random.Generator, seconds: float) -> list[tuple[str, float]]:
    """A plausible sequence of activity segments filling ``seconds``."""
    probs = np.array([0.3, 0.15, 0.15, 0.1, 0.12, 0.1, 0.08])
    out: list[tuple[str, float]] = []
    left = seconds
    while left > 0:
        name = str(rng.choice(ACTIVITIES, p=probs))
        length = float(min(left, rng.uniform(6.0, 25.0)))
        out.append((name, length))
        left -= length
    return out
