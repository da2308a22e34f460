"""Settings of checkpoints and encoder exports written before the model settings were grouped,
mapped to the current nodes once, when the file is loaded.

Then: a classifier took flat arguments (``dropout``, ``lr``, ``freeze_encoder`` ...), the input
representation was the encoder's ``input_norm`` / ``input_norm_floor`` (its ``input_dim`` the
descriptors' width), and the LSTM baseline was ``LSTMClassifier``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from seizure_lightning.models.input_representation import InputConfig, InputRepresentation
from seizure_lightning.utils.config import to_primitive

_BASELINES = "seizure_lightning.models.baselines"
RENAMED_TARGETS = {f"{_BASELINES}.LSTMClassifier": f"{_BASELINES}.LSTMEncoder"}
#: flat classifier argument -> (node, key)
FLAT_KEYS = {
    "dropout": ("head", "dropout"),
    "motion_stats": ("head", "motion_stats"),
    "centered_head": ("head", "centered"),
    "num_classes": ("head", "num_classes"),
    "lr": ("finetune", "lr"),
    "head_lr": ("finetune", "head_lr"),
    "head_warmup_epochs": ("finetune", "head_warmup_epochs"),
    "freeze_encoder": ("finetune", "freeze_encoder"),
    "compile": ("encoder", "compile"),
}
#: arguments the module no longer takes (the fold runner and the data read them)
DROPPED_KEYS = ("name", "from_scratch", "subject_norm")


def upgrade_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Current settings from old ones: flat classifier arguments -> the ``head`` / ``finetune``
    nodes, the encoder's ``input_norm`` -> the ``input`` node, old ``_target_`` names -> new.
    ``settings``: a classifier's hyper-parameters, or ``{"encoder": <config>}`` of an encoder
    export. Current settings pass through unchanged; a removed option raises ``ValueError``."""
    out = to_primitive(dict(settings))
    encoder = dict(out.get("encoder") or {})
    if encoder.get("_target_") in RENAMED_TARGETS:
        encoder["_target_"] = RENAMED_TARGETS[encoder["_target_"]]
    if "input" not in out:
        out["input"] = _input_node(encoder)
    pooling = out.pop("pooling", "mean")
    if pooling != "mean":
        raise ValueError(f"pooling={pooling!r} was removed (mean pooling only): this checkpoint "
                         "cannot be rebuilt by this version")
    for old, (node, key) in FLAT_KEYS.items():
        if old in out:
            value = out.pop(old)
            if node == "encoder":
                encoder[key] = value
            else:
                out.setdefault(node, {})[key] = value
    for key in DROPPED_KEYS:
        out.pop(key, None)
    out["encoder"] = encoder
    return out


def _input_node(encoder: dict[str, Any]) -> dict[str, Any]:
    """The ``input`` node of an old encoder config, taken out of it; the encoder's
    ``input_dim`` becomes the representation's width."""
    kind = encoder.pop("input_norm", "none")
    if kind == "diff":
        raise ValueError("input_norm='diff' was removed (model.input.kind: none, window or "
                         "energy): this file cannot be rebuilt by this version")
    node = InputConfig(kind=kind, descriptor_dim=int(encoder.get("input_dim", 2048)),
                       floor=float(encoder.pop("input_norm_floor", InputConfig.floor)))
    if "input_dim" in encoder:
        encoder["input_dim"] = InputRepresentation(node).output_dim
    return dataclasses.asdict(node)
