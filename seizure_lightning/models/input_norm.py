"""Per-window input normalisation of descriptor sequences (``input_norm`` of the sequence models).

Frame descriptors of EMU video are dominated by what does not move: the room, the bed, the
camera, the patient's clothes, i.e. by the subject's identity. A sequence model trained on a few
dozen patients learns those and fails on a new one (leave-one-subject-out). ``"window"``
standardises each window over its own valid frames: the window's mean descriptor is subtracted
(the static scene) and the result is divided by its root-mean-square (the subject's overall
motion scale), so what is left is how the descriptors move. ``"none"`` (the paper) passes them
through.

Pure functions of ``(features [B, L, D], attention_mask [B, L])``; pads come out as zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor

INPUT_NORMS = ("none", "window")


def check_input_norm(value: str) -> str:
    """``value`` if it is a known input normalisation, else a ``ValueError`` naming the choices."""
    if value not in INPUT_NORMS:
        raise ValueError(f"input_norm must be one of {INPUT_NORMS}, got {value!r}")
    return value


def window_statistics(
    features: Tensor, attention_mask: Tensor, eps: float = 1e-6
) -> tuple[Tensor, Tensor]:
    """``(mean [B, 1, D], rms [B, 1, 1])`` of each window over its valid frames (fp32).

    ``rms`` is the root-mean-square of the centred valid descriptors over frames and channels,
    at least ``eps``; a window without valid frames gets mean 0.
    """
    x = features.float()
    valid = attention_mask.to(torch.bool).unsqueeze(-1).to(x.dtype)
    count = valid.sum(1, keepdim=True).clamp(min=1.0)
    mean = (x * valid).sum(1, keepdim=True) / count
    centred = (x - mean) * valid
    rms = (centred.pow(2).sum((1, 2), keepdim=True) / (count * x.shape[-1])).sqrt()
    return mean, rms.clamp(min=eps)


def standardize(features: Tensor, attention_mask: Tensor, mean: Tensor, rms: Tensor) -> Tensor:
    """``(features - mean) / rms`` at valid positions, zeros at pads (``features``' dtype)."""
    valid = attention_mask.to(torch.bool).unsqueeze(-1)
    out = (features.float() - mean) / rms
    return out.masked_fill(~valid, 0.0).to(features.dtype)


def normalize_window(
    features: Tensor,
    attention_mask: Tensor,
    mode: str = "window",
    stats_mask: Tensor | None = None,
) -> Tensor:
    """``features`` normalised per window by ``mode`` (``"none"`` returns them unchanged).

    ``stats_mask`` (default ``attention_mask``) picks the frames the statistics come from, e.g.
    the real frames of a corrupted pre-training input, so that r(MASK) positions do not move them.
    """
    if check_input_norm(mode) == "none":
        return features
    mean, rms = window_statistics(features, attention_mask if stats_mask is None else stats_mask)
    return standardize(features, attention_mask, mean, rms)
