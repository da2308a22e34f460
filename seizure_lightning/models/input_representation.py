"""The input representation: what a sequence model sees of a window of frame descriptors
(``model.input``), applied in front of every sequence model and by pre-training.

Frame descriptors of EMU video are dominated by what does not move: the room, the bed, the
camera, the patient's clothes, i.e. by the subject's identity. A sequence model trained on a few
dozen patients learns those and fails on a new one (leave-one-subject-out).

- ``none`` (the paper): the descriptors as they are.
- ``window``: each window standardised over its own valid frames: the window's mean descriptor
  (the static scene) is subtracted and the result divided by its root-mean-square (the
  subject's overall motion scale).
- ``energy``: the motion energy ``e_t = ||r_t - r_(t-1)||`` (how much moved, one number per
  frame: the signal of the ``motion_spectrum`` baseline), standardised over the window. The
  least subject identity of the representations (``experiments/subject_probe.py``).

A representation is a :class:`Representation` in :data:`REPRESENTATIONS`: its values and which
positions they are defined at, from the window's real frames. Numerics: the RMS has a floor of
``floor`` times the window's descriptor level (the RMS of its mean descriptor), so a near-static
window (a sleeping patient) does not blow extraction noise up to signal size. Frames excluded
from the statistics (``stats_mask``: the r(MASK) frames of a corrupted pre-training input)
enter as unit-RMS marker vectors, at the scale of real frames, or, for a representation of
change (``energy``), as gaps that the encoder can mark (``gap_marker``). Pads come out as zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from seizure_lightning.utils.config import config_from_dict

#: default RMS floor, relative to the window's descriptor level; demo seizure windows move by
#: 3-10 % of the level (experiments/input_levels.py), bf16 extraction noise is about 0.4 %
DEFAULT_FLOOR = 0.02


# ----------------------------------------------------------------------------- numerics
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


# ----------------------------------------------------------------------------- representations
class Representation:
    """The descriptors as they are (``none``); subclasses represent a window otherwise."""

    #: standardised over the window's real frames (``floor``: see the module docstring)
    standardized = False
    #: a value of change: an excluded frame leaves gaps (``gap_marker``), not marker vectors
    marks_gaps = False

    def width(self, descriptor_dim: int) -> int:
        """Numbers per frame of ``descriptor_dim``-wide descriptors."""
        return descriptor_dim

    def values(self, features: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
        """``(values [B, L, width], defined [B, L])`` from the ``real`` frames."""
        return features, real


class WindowStandardized(Representation):
    """``window``: the frames standardised over the window."""

    standardized = True


class MotionEnergy(Representation):
    """``energy``: the motion energy per frame, standardised over the window."""

    standardized = True
    marks_gaps = True

    def width(self, descriptor_dim: int) -> int:
        return 1

    def values(self, features: Tensor, real: Tensor) -> tuple[Tensor, Tensor]:
        return motion_energy(features, real)


#: ``model.input.kind`` -> its representation
REPRESENTATIONS: dict[str, Representation] = {
    "none": Representation(),
    "window": WindowStandardized(),
    "energy": MotionEnergy(),
}


@dataclass
class InputConfig:
    """``model.input``: the representation ``kind``, the descriptors' width, the RMS floor."""

    kind: str = "none"
    descriptor_dim: int = 2048
    floor: float = DEFAULT_FLOOR

    def __post_init__(self) -> None:
        if self.kind not in REPRESENTATIONS:
            raise ValueError(
                f"model.input.kind must be one of {sorted(REPRESENTATIONS)}, got {self.kind!r}")


class RepresentedInput(NamedTuple):
    """What a sequence model is fed."""

    values: Tensor  # [B, L, width]
    gaps: Tensor  # [B, L] long: 1 at valid positions whose value is undefined (marks_gaps)
    known: Tensor  # [B, L] bool: positions whose value comes from real frames


class InputRepresentation(nn.Module):
    """``features [B, L, descriptor_dim]`` -> :class:`RepresentedInput` (no parameters)."""

    def __init__(
        self, config: InputConfig | Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        super().__init__()
        self.config = config = config_from_dict(InputConfig, fields or config)
        self.representation = REPRESENTATIONS[config.kind]

    @property
    def output_dim(self) -> int:
        """Width of the represented frames (the sequence model's ``input_dim``)."""
        return self.representation.width(self.config.descriptor_dim)

    def forward(
        self, features: Tensor, attention_mask: Tensor | None = None,
        stats_mask: Tensor | None = None,
    ) -> RepresentedInput:
        """``stats_mask`` (default ``attention_mask``) picks the real frames: the statistics
        come from them; valid frames outside it (r(MASK)) become markers or gaps."""
        valid = (torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
                 if attention_mask is None else attention_mask.to(torch.bool))
        real = valid if stats_mask is None else stats_mask.to(torch.bool) & valid
        rep = self.representation
        values, known = rep.values(features, real)
        gaps = (valid & ~known).long() if rep.marks_gaps else torch.zeros_like(valid,
                                                                              dtype=torch.long)
        if not rep.standardized:
            return RepresentedInput(features, gaps, known)
        mean, rms = self._statistics(features, real, values, known)
        out = standardize(values, known, mean, rms).float()
        marked = valid & ~real
        if marked.any() and not rep.marks_gaps:
            centred = features.float() - _masked_mean(features.float(), real)
            marker = centred / centred.pow(2).mean(-1, keepdim=True).sqrt().clamp(min=1e-6)
            out = torch.where(marked.unsqueeze(-1), marker, out)
        return RepresentedInput(out.to(features.dtype), gaps, known)

    def target(self, original: Tensor, inputs: Tensor, valid: Tensor, real: Tensor) -> Tensor:
        """What pre-training regresses (fp32): the ORIGINAL window in the frame the encoder sees
        its corrupted ``inputs`` in, i.e. standardised by the statistics of the input's ``real``
        frames (``none``: the original descriptors)."""
        rep = self.representation
        if not rep.standardized:
            return original.float()
        mean, rms = self._statistics(inputs, real, *rep.values(inputs, real))
        return standardize(*rep.values(original, valid), mean, rms).float()

    def _statistics(self, features: Tensor, real: Tensor, values: Tensor,
                    known: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, rms)`` of ``values`` over ``known`` positions; the floor's reference: the
        RMS of the window's mean descriptor over its ``real`` frames."""
        level = _masked_mean(features.float(), real)
        return window_statistics(values, known, self.config.floor, level_from=level)
