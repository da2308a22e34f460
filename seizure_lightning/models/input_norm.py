"""Per-window input representations of descriptor sequences (``input_norm`` of the sequence
models).

Frame descriptors of EMU video are dominated by what does not move: the room, the bed, the
camera, the patient's clothes, i.e. by the subject's identity. A sequence model trained on a few
dozen patients learns those and fails on a new one (leave-one-subject-out).

- ``"none"`` (the paper): the descriptors as they are.
- ``"window"``: each window standardised over its own valid frames: the window's mean descriptor
  (the static scene) is subtracted and the result divided by its root-mean-square (the
  subject's overall motion scale).
- ``"diff"``: the frame-to-frame change ``r_t - r_(t-1)`` (what moved), standardised the same
  way over the window. The static scene cancels exactly, whatever the model learns.
- ``"energy"``: the motion energy ``e_t = ||r_t - r_(t-1)||`` (how much moved, one number per
  frame: the signal of the ``motion_spectrum`` baseline), standardised over the window. The
  least subject identity of the representations (``experiments/subject_probe.py``); the sequence
  model learns its dynamics. Its width is 1 (:func:`representation_dim`).

Numerics: the RMS has a floor of ``floor`` times the window's descriptor level (the RMS of its
mean descriptor), so a near-static window (a sleeping patient) does not blow extraction noise
(bf16, fp16 cache) up to signal size. Frames excluded from the statistics (``stats_mask``: the
r(MASK) frames of a corrupted pre-training input) enter as unit-RMS marker vectors, at the
scale of real frames. Pure functions of ``(features [B, L, D], attention_mask [B, L])``; pads
come out as zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor

INPUT_NORMS = ("none", "window", "diff", "energy")
#: default RMS floor, relative to the window's descriptor level; demo seizure windows move by
#: 3-10 % of the level (experiments/input_levels.py), bf16 extraction noise is about 0.4 %
DEFAULT_FLOOR = 0.02


def representation_dim(mode: str, input_dim: int) -> int:
    """Width of the representation ``mode`` of ``input_dim``-wide descriptors."""
    return 1 if check_input_norm(mode) == "energy" else int(input_dim)


def check_input_norm(value: str) -> str:
    """``value`` if it is a known input representation, else a ``ValueError`` naming them."""
    if value not in INPUT_NORMS:
        raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {value!r}")
    return value


def _masked_mean(x: Tensor, select: Tensor) -> Tensor:
    weight = select.unsqueeze(-1).to(x.dtype)
    return (x * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1.0)


def window_statistics(
    features: Tensor, attention_mask: Tensor, floor: float = 0.0, eps: float = 1e-6,
    level_from: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(mean [B, 1, D], rms [B, 1, 1])`` of each window over its ``attention_mask`` frames
    (fp32).

    ``rms`` is the root-mean-square of the centred frames over frames and channels, combined
    with ``floor`` times the level (the RMS of the mean descriptor of ``level_from``, default
    ``features``) as ``sqrt(rms^2 + (floor * level)^2)``, and at least ``eps``; a window without
    frames gets mean 0.
    """
    x = features.float()
    select = attention_mask.to(torch.bool)
    mean = _masked_mean(x, select)
    valid = select.unsqueeze(-1).to(x.dtype)
    count = valid.sum(1, keepdim=True).clamp(min=1.0)
    rms2 = ((x - mean) * valid).pow(2).sum((1, 2), keepdim=True) / (count * x.shape[-1])
    if floor > 0:
        ref = mean if level_from is None else level_from.float()
        rms2 = rms2 + (floor ** 2) * ref.pow(2).mean(-1, keepdim=True)
    return mean, rms2.sqrt().clamp(min=eps)


def standardize(features: Tensor, attention_mask: Tensor, mean: Tensor, rms: Tensor) -> Tensor:
    """``(features - mean) / rms`` at valid positions, zeros at pads (``features``' dtype)."""
    valid = attention_mask.to(torch.bool).unsqueeze(-1)
    out = (features.float() - mean) / rms
    return out.masked_fill(~valid, 0.0).to(features.dtype)


def frame_differences(features: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """``(d [B, L, D], defined [B, L])``: ``d_t = r_t - r_(t-1)`` where frames ``t`` and ``t-1``
    are both ``real``, zero elsewhere (the first frame, pads, next to an excluded frame)."""
    x = features.float()
    real = real.to(torch.bool)
    defined = torch.zeros_like(real)
    defined[:, 1:] = real[:, 1:] & real[:, :-1]
    d = torch.zeros_like(x)
    d[:, 1:] = x[:, 1:] - x[:, :-1]
    return d * defined.unsqueeze(-1), defined


def motion_energy(features: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
    """``(e [B, L, 1], defined [B, L])``: ``e_t = ||r_t - r_(t-1)||`` where defined (see
    :func:`frame_differences`), zero elsewhere."""
    d, defined = frame_differences(features, real)
    return d.norm(dim=-1, keepdim=True), defined


def energy_log_stats(features: Tensor, attention_mask: Tensor, eps: float = 1e-6) -> Tensor:
    """``[B, 2]``: log mean and log std of the motion energy ``e_t`` over each window's defined
    frames (how much, and how unevenly, the window moves; what per-window standardisation of
    ``energy`` takes away). fp32."""
    e, defined = motion_energy(features, attention_mask)
    e, w = e.squeeze(-1), defined.float()
    n = w.sum(1, keepdim=True).clamp(min=1.0)
    mean = (e * w).sum(1, keepdim=True) / n
    std = (((e - mean) * w).pow(2).sum(1, keepdim=True) / n).sqrt()
    return torch.cat([mean.clamp(min=eps).log(), std.clamp(min=eps).log()], dim=1)


def representation_statistics(
    inputs: Tensor, real: Tensor, mode: str, floor: float = DEFAULT_FLOOR
) -> tuple[Tensor, Tensor]:
    """The ``(mean, rms)`` a window is standardised by under ``mode`` (``window``, ``diff`` or
    ``energy``), from its ``real`` frames."""
    if check_input_norm(mode) == "window":
        return window_statistics(inputs, real, floor)
    values, defined = (frame_differences if mode == "diff" else motion_energy)(inputs, real)
    # the floor's reference: the RMS of the window's mean descriptor, for every mode
    level = _masked_mean(inputs.float(), real.to(torch.bool))
    return window_statistics(values, defined, floor, level_from=level)


def _represent(x: Tensor, real: Tensor, mode: str, mean: Tensor, rms: Tensor) -> Tensor:
    if mode == "window":
        return standardize(x, real, mean, rms)
    values, defined = (frame_differences if mode == "diff" else motion_energy)(x, real)
    return standardize(values, defined, mean, rms)


def normalize_window(
    features: Tensor,
    attention_mask: Tensor,
    mode: str = "window",
    stats_mask: Tensor | None = None,
    floor: float = DEFAULT_FLOOR,
) -> Tensor:
    """The encoder's input: ``features`` represented by ``mode`` (``"none"`` returns them).

    ``stats_mask`` (default ``attention_mask``) picks the real frames: the statistics (and, for
    ``diff``, the differences) come from them; valid frames outside it (r(MASK)) become unit-RMS
    marker vectors (their direction from the window mean).
    """
    if check_input_norm(mode) == "none":
        return features
    valid = attention_mask.to(torch.bool)
    real = valid if stats_mask is None else stats_mask.to(torch.bool) & valid
    mean, rms = representation_statistics(features, real, mode, floor)
    out = _represent(features, real, mode, mean, rms).float()
    marked = valid & ~real
    if marked.any() and mode != "energy":  # energy: an excluded frame is a gap (0), no marker
        centred = features.float() - _masked_mean(features.float(), real)
        marker = centred / centred.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-6)
        out = torch.where(marked.unsqueeze(-1), marker, out)
    return out.to(features.dtype)


def representation_target(
    original: Tensor, inputs: Tensor, valid: Tensor, real: Tensor, mode: str,
    floor: float = DEFAULT_FLOOR,
) -> Tensor:
    """What pre-training regresses (fp32): the ORIGINAL window in the frame the encoder sees
    its corrupted input in, i.e. standardised by the statistics of the input's ``real`` frames
    (``none``: the original descriptors)."""
    if check_input_norm(mode) == "none":
        return original.float()
    mean, rms = representation_statistics(inputs, real, mode, floor)
    return _represent(original, valid, mode, mean, rms).float()
