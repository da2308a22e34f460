"""Transformer encoder over per-frame descriptors (the paper's sequence model).

A linear projection ``input_dim -> d_model`` feeds a HuggingFace ``BertModel`` through
``inputs_embeds``: learned positions up to ``max_positions``, one token type, no pooler, and a
4-entry word-embedding table that is never read (``BertModel`` always builds one; it is frozen so
that DDP does not see an unused trainable parameter). Built from a config only: nothing is
downloaded. ``SequenceEncoderConfig()`` is the paper's ``model=paper`` (about 78M trainable
parameters including the input projection). ``input_norm`` (``"window"``, ``"diff"``) represents
each window by its own standardised frames or frame-to-frame changes before the projection
(``models/input_norm.py``); the paper's is ``"none"``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertModel

from seizure_lightning.models.input_norm import (
    DEFAULT_FLOOR,
    check_input_norm,
    frame_differences,
    normalize_window,
    representation_dim,
)
from seizure_lightning.utils.config import config_from_dict, to_primitive

_SPECIAL_VOCAB = 4  # a few special ids only: the table exists but inputs_embeds bypasses it


@dataclass
class SequenceEncoderConfig:
    """Architecture of :class:`SequenceEncoder` (defaults = the paper)."""

    input_dim: int = 2048
    d_model: int = 1024
    num_layers: int = 6
    num_heads: int = 8
    ffn_dim: int = 4096
    max_positions: int = 256
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    attn_implementation: str = "sdpa"
    initializer_range: float = 0.02
    # "none" (paper) | "window" | "diff" | "energy": per-window representation (input_norm.py)
    input_norm: str = "none"
    # RMS floor of the window/diff standardisation, relative to the window's descriptor level
    input_norm_floor: float = DEFAULT_FLOOR
    # ``diff`` / ``energy``: mark the positions whose change is undefined (the first frame, and
    # r(MASK) frames and their successors in a corrupted pre-training input) with BERT's token
    # type 1, so a gap is not read as a frame that moved by the window's average amount.
    # False = the encoder before it had the marker (and the paper's: it has no gaps)
    gap_marker: bool = False

    def __post_init__(self) -> None:
        check_input_norm(self.input_norm)
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})"
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> SequenceEncoderConfig:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        return config_from_dict(cls, values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (safe for ``torch.load(weights_only=True)``)."""
        return dataclasses.asdict(self)

    def to_bert_config(self) -> BertConfig:
        """The equivalent ``transformers.BertConfig`` (built from scratch)."""
        return BertConfig(
            vocab_size=_SPECIAL_VOCAB,
            hidden_size=self.d_model,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.ffn_dim,
            hidden_act="gelu",
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.attention_dropout,
            max_position_embeddings=self.max_positions,
            type_vocab_size=2 if self.gap_marker else 1,
            initializer_range=self.initializer_range,
            layer_norm_eps=self.layer_norm_eps,
            pad_token_id=0,
            attn_implementation=self.attn_implementation,
        )


class SequenceEncoder(nn.Module):
    """``features [B, L, input_dim]`` + ``attention_mask [B, L]`` -> ``hidden [B, L, d_model]``."""

    def __init__(
        self, config: SequenceEncoderConfig | Mapping[str, Any] | None = None, **fields: Any
    ) -> None:
        """From a config (or a mapping of its fields), or from the fields as keywords (Hydra's
        ``_target_`` instantiation)."""
        super().__init__()
        config = config_from_dict(SequenceEncoderConfig, fields or config)
        self.config = config
        self.input_proj = nn.Linear(self.representation_dim, config.d_model)
        self.bert = BertModel(config.to_bert_config(), add_pooling_layer=False)
        self.bert.embeddings.word_embeddings.requires_grad_(False)
        self._init_input_proj()

    @property
    def output_dim(self) -> int:
        """Width of the returned hidden states."""
        return self.config.d_model

    @property
    def representation_dim(self) -> int:
        """Width of what the input projection sees (``input_dim``; 1 for ``energy``)."""
        return representation_dim(self.config.input_norm, self.config.input_dim)

    def _init_input_proj(self) -> None:
        if self.input_proj.weight.is_meta:
            return
        nn.init.normal_(self.input_proj.weight, std=self.config.initializer_range)
        nn.init.zeros_(self.input_proj.bias)

    def forward(
        self,
        features: Tensor,
        attention_mask: Tensor | None = None,
        stats_mask: Tensor | None = None,
    ) -> Tensor:
        """Last hidden state ``[B, L, d_model]``; positions with ``attention_mask`` False are
        neither attended to nor meaningful in the output. ``stats_mask``: the frames the
        ``input_norm`` statistics come from (default: the valid ones)."""
        if features.shape[1] > self.config.max_positions:
            raise ValueError(
                f"sequence length {features.shape[1]} exceeds max_positions "
                f"{self.config.max_positions}"
            )
        if attention_mask is not None:
            attention_mask = attention_mask.to(torch.bool)
        embeds = self.input_proj(self.normalize(features, attention_mask, stats_mask))
        gaps = self.gaps(features, attention_mask, stats_mask) if self.config.gap_marker else None
        out = self.bert(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            token_type_ids=gaps,
            return_dict=True,
        )
        return out.last_hidden_state

    def normalize(
        self, features: Tensor, attention_mask: Tensor | None, stats_mask: Tensor | None = None
    ) -> Tensor:
        """The descriptors as the projection sees them (``config.input_norm``)."""
        if self.config.input_norm == "none":
            return features
        if attention_mask is None:
            attention_mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
        return normalize_window(features, attention_mask, self.config.input_norm, stats_mask,
                                self.config.input_norm_floor)

    def gaps(
        self, features: Tensor, attention_mask: Tensor | None, stats_mask: Tensor | None = None
    ) -> Tensor:
        """Token types ``[B, L]`` (long): 1 at valid positions whose frame-to-frame change is
        undefined under ``diff`` / ``energy`` (see ``gap_marker``), 0 elsewhere."""
        valid = (
            torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
            if attention_mask is None
            else attention_mask.to(torch.bool)
        )
        if self.config.input_norm not in ("diff", "energy"):
            return torch.zeros_like(valid, dtype=torch.long)
        real = valid if stats_mask is None else valid & stats_mask.to(torch.bool)
        _, defined = frame_differences(features[..., :1], real)
        return (valid & ~defined).long()

    def num_trainable_parameters(self) -> int:
        """Number of parameters with ``requires_grad`` (input projection included)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def sequence_encoder_fields(node: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :class:`SequenceEncoderConfig` fields of a ``model.encoder`` node (all of them, with
    defaults filled in); a ``_target_``, if present, must name :class:`SequenceEncoder`."""
    fields = to_primitive(dict(node or {}))
    target = fields.pop("_target_", None)
    if target is not None and target.rsplit(".", 1)[-1] != SequenceEncoder.__name__:
        raise ValueError(f"this needs a SequenceEncoder (model.encoder._target_), got {target!r}")
    return config_from_dict(SequenceEncoderConfig, fields).to_dict()
