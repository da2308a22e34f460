"""Baseline backbones with the same interface as :class:`SequenceEncoder`.

Every backbone maps the represented window ``features [B, L, input_dim]`` + ``attention_mask
[B, L]`` (+ ``gaps [B, L]``, which only the Transformer reads) to hidden states ``[B, L,
output_dim]``; the classifier averages them over valid positions, applies dropout and a linear
head. So ``model.encoder._target_`` swaps the sequence model and nothing else:

- ``meanpool_linear``: :class:`MeanPoolLinear` passes descriptors through; with mean pooling the
  classifier is exactly "mean descriptor over valid frames -> linear".
- ``lstm``: :class:`LSTMEncoder` runs a (bi-)LSTM over the descriptors; pads are skipped
  (packed sequence) and their outputs are zero.
- ``motion_spectrum``: :class:`MotionSpectrum`, a hand-crafted temporal baseline: the spectrum of
  the frame-to-frame descriptor change ("motion energy"), as in clinical video analysis of
  movement frequency (of the raw descriptors: ``model.input.kind=none``). It returns window
  features ``[B, output_dim]`` (already pooled).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seizure_lightning.utils.config import config_from_dict


@dataclass
class MeanPoolConfig:
    """Config of :class:`MeanPoolLinear` (only the input width)."""

    input_dim: int = 2048


@dataclass
class LSTMConfig:
    """Config of :class:`LSTMEncoder`."""

    input_dim: int = 2048
    hidden_size: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0


def lengths_from_mask(attention_mask: Tensor) -> Tensor:
    """Valid lengths of a right-padded mask; raises if valid frames are not a prefix."""
    mask = attention_mask.to(torch.bool)
    lengths = mask.sum(dim=1)
    prefix = torch.arange(mask.shape[1], device=mask.device) < lengths.unsqueeze(1)
    if not torch.equal(prefix, mask):
        raise ValueError("attention_mask must be right-padded (valid frames first)")
    return lengths


class MeanPoolLinear(nn.Module):
    """Identity backbone: hidden states are the descriptors (no trainable parameters)."""

    def __init__(
        self, config: MeanPoolConfig | Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        super().__init__()
        self.config = config = config_from_dict(MeanPoolConfig, fields or config)

    @property
    def output_dim(self) -> int:
        return self.config.input_dim

    def forward(self, features: Tensor, attention_mask: Tensor | None = None,
                gaps: Tensor | None = None) -> Tensor:
        return features

    def num_trainable_parameters(self) -> int:
        return 0


class LSTMEncoder(nn.Module):
    """(Bi-)LSTM over the represented frames; outputs at pad positions are zero."""

    def __init__(
        self, config: LSTMConfig | Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        super().__init__()
        self.config = config = config_from_dict(LSTMConfig, fields or config)
        self.lstm = nn.LSTM(
            input_size=config.input_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )

    @property
    def output_dim(self) -> int:
        return self.config.hidden_size * (2 if self.config.bidirectional else 1)

    def forward(self, features: Tensor, attention_mask: Tensor | None = None,
                gaps: Tensor | None = None) -> Tensor:
        seq_len = features.shape[1]
        if attention_mask is None:
            return self.lstm(features)[0]
        lengths = lengths_from_mask(attention_mask).clamp(min=1).cpu()
        packed = pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=seq_len)
        return out

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


@dataclass
class MotionSpectrumConfig:
    """Motion-energy spectrum: ``bands`` equal bands from 0 to ``max_hz`` at ``fps``."""

    input_dim: int = 2048
    fps: float = 25.0
    max_hz: float = 8.0
    bands: int = 16


class MotionSpectrum(nn.Module):
    """Window features from the descriptor motion energy ``e_t = ||r_t - r_(t-1)||``.

    ``e`` is standardised over the window's valid frames, its magnitude spectrum is summed in
    ``bands`` frequency bands (log1p), and the log mean / std of the raw energy are appended;
    a LayerNorm puts the features on one scale. No single frame contributes: a purely temporal
    baseline. Returns ``[B, bands + 2]``.
    """

    def __init__(
        self, config: MotionSpectrumConfig | Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        super().__init__()
        self.config = config = config_from_dict(MotionSpectrumConfig, fields or config)
        self.norm = nn.LayerNorm(config.bands + 2)

    @property
    def output_dim(self) -> int:
        return self.config.bands + 2

    def forward(self, features: Tensor, attention_mask: Tensor,
                gaps: Tensor | None = None) -> Tensor:
        mask = attention_mask.to(torch.bool)
        pair = mask[:, 1:] & mask[:, :-1]
        energy = (features[:, 1:] - features[:, :-1]).float().norm(dim=-1) * pair
        n = pair.sum(1, keepdim=True).clamp(min=1)
        mean = energy.sum(1, keepdim=True) / n
        std = (((energy - mean) * pair).pow(2).sum(1, keepdim=True) / n).sqrt()
        z = (energy - mean) / std.clamp(min=1e-6) * pair
        spec = torch.fft.rfft(z, dim=1).abs()  # [B, L//2]
        freqs = torch.fft.rfftfreq(z.shape[1], d=1.0 / self.config.fps).to(z.device)
        edges = torch.linspace(0.0, self.config.max_hz, self.config.bands + 1, device=z.device)
        band = torch.bucketize(freqs, edges[1:-1])
        keep = (freqs > 0) & (freqs <= self.config.max_hz)
        power = torch.zeros(spec.shape[0], self.config.bands, device=z.device)
        power.index_add_(1, band[keep], spec[:, keep])
        stats = torch.cat([mean.clamp(min=1e-6).log(), std.clamp(min=1e-6).log()], dim=1)
        return self.norm(torch.cat([power.log1p(), stats], dim=1))

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
