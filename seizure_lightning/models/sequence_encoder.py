"""Transformer encoder over per-frame descriptors (the paper's sequence model).

A linear projection ``input_dim -> d_model`` feeds a HuggingFace ``BertModel`` through
``inputs_embeds``: learned positions up to ``max_positions``, one token type, no pooler, and a
4-entry word-embedding table that is never read (``BertModel`` always builds one; it is frozen so
that DDP does not see an unused trainable parameter). Built from a config only: nothing is
downloaded. ``SequenceEncoderConfig()`` is the paper's ``model=paper`` (about 78M trainable
parameters including the input projection). It reads the window as the input representation
(``models/input_representation.py``) gives it: ``input_dim`` is the representation's width.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import BertConfig, BertModel

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
    # mark the positions whose value the input representation leaves undefined (``energy``: the
    # first frame, r(MASK) frames and their successors) with BERT's token type 1, so a gap is not
    # read as a frame that moved by the window's average amount (the paper's has no gaps)
    gap_marker: bool = False

    def __post_init__(self) -> None:
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
        self.input_proj = nn.Linear(config.input_dim, config.d_model)
        self.bert = BertModel(config.to_bert_config(), add_pooling_layer=False)
        self.bert.embeddings.word_embeddings.requires_grad_(False)
        self._init_input_proj()

    @property
    def output_dim(self) -> int:
        """Width of the returned hidden states."""
        return self.config.d_model

    def _init_input_proj(self) -> None:
        if self.input_proj.weight.is_meta:
            return
        nn.init.normal_(self.input_proj.weight, std=self.config.initializer_range)
        nn.init.zeros_(self.input_proj.bias)

    def forward(
        self, features: Tensor, attention_mask: Tensor | None = None, gaps: Tensor | None = None
    ) -> Tensor:
        """Last hidden state ``[B, L, d_model]`` of the represented window ``features``;
        positions with ``attention_mask`` False are neither attended to nor meaningful in the
        output. ``gaps`` (``[B, L]``, 1 at undefined positions) are read with ``gap_marker``."""
        if features.shape[1] > self.config.max_positions:
            raise ValueError(
                f"sequence length {features.shape[1]} exceeds max_positions "
                f"{self.config.max_positions}"
            )
        if attention_mask is not None:
            attention_mask = attention_mask.to(torch.bool)
        token_types = None
        if self.config.gap_marker:
            token_types = (torch.zeros(features.shape[:2], dtype=torch.long, device=features.device)
                           if gaps is None else gaps.long())
        out = self.bert(
            inputs_embeds=self.input_proj(features),
            attention_mask=attention_mask,
            token_type_ids=token_types,
            return_dict=True,
        )
        return out.last_hidden_state

    def num_trainable_parameters(self) -> int:
        """Number of parameters with ``requires_grad`` (input projection included)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


#: ``model.encoder._target_`` when a node has none
SEQUENCE_ENCODER_TARGET = f"{SequenceEncoder.__module__}.{SequenceEncoder.__name__}"


def encoder_node(node: Mapping[str, Any] | None, input_dim: int | None = None) -> tuple[dict, bool]:
    """``(fields, compile)`` of a ``model.encoder`` node: its ``_target_`` (default
    :class:`SequenceEncoder`) and fields, and whether to ``torch.compile`` the model (the node's
    ``compile``, taken out). ``input_dim``: the input representation's width, filled in (a
    given one must agree)."""
    fields = to_primitive(dict(node or {}))
    fields.setdefault("_target_", SEQUENCE_ENCODER_TARGET)
    compile_model = bool(fields.pop("compile", False))
    if input_dim is not None:
        given = fields.setdefault("input_dim", input_dim)
        if int(given) != input_dim:
            raise ValueError(f"model.encoder.input_dim={given} but the input representation is "
                             f"{input_dim} wide (model.input sets it: leave it out)")
    return fields, compile_model


def sequence_encoder_fields(node: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :class:`SequenceEncoderConfig` fields of a ``model.encoder`` node (all of them, with
    defaults filled in); a ``_target_``, if present, must name :class:`SequenceEncoder`."""
    fields = to_primitive(dict(node or {}))
    target = fields.pop("_target_", None)
    if target is not None and target.rsplit(".", 1)[-1] != SequenceEncoder.__name__:
        raise ValueError(f"this needs a SequenceEncoder (model.encoder._target_), got {target!r}")
    return config_from_dict(SequenceEncoderConfig, fields).to_dict()
