"""The encoder-only file a pre-training run writes (``encoder.pt``) and fine-tuning reads:
the :class:`SequenceEncoder`'s config and weights, the input representation it was trained on,
the subjects whose contextual video it saw, and r(MASK) / r(PAD). Primitive types and tensors
only: it loads with ``weights_only=True``."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from seizure_lightning.models.input_representation import InputConfig
from seizure_lightning.models.legacy_settings import upgrade_settings
from seizure_lightning.models.sequence_encoder import SequenceEncoder, SequenceEncoderConfig
from seizure_lightning.utils.io import atomic_write_bytes

ENCODER_EXPORT_FORMAT = "seizure-lightning-encoder/2"
#: /1: the input representation inside the encoder config (``input_norm``), no input_config
READABLE_FORMATS = ("seizure-lightning-encoder/1", ENCODER_EXPORT_FORMAT)


def save_encoder_export(
    path: str | Path,
    encoder: SequenceEncoder,
    input_config: InputConfig,
    subjects_seen: Iterable[str],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an encoder-only file atomically (loads with ``weights_only=True``)."""
    payload = {
        "format": ENCODER_EXPORT_FORMAT,
        "encoder_config": encoder.config.to_dict(),
        "input_config": dataclasses.asdict(input_config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()},
        "subjects_seen": sorted({str(s) for s in subjects_seen}),
        **dict(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_encoder_export(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[SequenceEncoder, dict[str, Any]]:
    """``(encoder with the exported weights, meta)``; meta has everything but the weights
    (``encoder_config`` and ``input_config`` in the current form, whatever the file's)."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path} is not a seizure-lightning encoder export "
            f"(format {fmt!r}, expected {ENCODER_EXPORT_FORMAT!r})"
        )
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    if "input_config" not in meta:
        settings = upgrade_settings({"encoder": meta["encoder_config"]})
        meta.update(encoder_config=settings["encoder"], input_config=settings["input"])
    encoder = SequenceEncoder(SequenceEncoderConfig.from_dict(meta["encoder_config"]))
    encoder.load_state_dict(payload["state_dict"], strict=True)
    return encoder, meta
