"""How a LOSO run differs from the paper's method, in words, for its report.

The paper (docs/method_to_code.md): a ~78M Transformer pre-trained on ImageNet ResNet-152
descriptors (loss on every position, a random crop per clip, every recording, no clipping), then
fine-tuned per fold on all other subjects (50 epochs, batch 16, lr 0.005, dropout 0.5, no
clipping), argmax on the last weights. Every setting that differs is one line of the report, so a
reader never has to guess what "the method" meant in a given table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: the paper's fine-tuning numbers (``experiment=paper/loso``), by config key
PAPER_FINETUNE: dict[str, Any] = {
    "trainer.max_epochs": 50,
    "data.batch_size": 16,
    "model.finetune.lr": 0.005,
    "model.head.dropout": 0.5,
    "trainer.gradient_clip_val": None,
    "data.split.val_fraction": 0.0,
    "loso.decision": "argmax",
    "loso.checkpoint": "last",
    "backbone.arch": "resnet152",
    "model.input.kind": "none",
}
PAPER_ENCODER = {"d_model": 1024, "num_layers": 6, "num_heads": 8, "ffn_dim": 4096}
#: the paper's pre-training, as recorded in an encoder export's ``recipe``
PAPER_PRETRAIN: dict[str, Any] = {
    "loss_on": "all",
    "crop_mode": "random",
    "val_fraction": 0.0,
    "gradient_clip_val": None,
    "backbone_arch": "resnet152",
    "lr": 0.01,
    "max_epochs": 60,
}


ABSENT = object()  # a key the config does not have (not compared)


def _get(cfg: Mapping[str, Any], dotted: str, default: Any = None) -> Any:
    if isinstance(cfg, DictConfig):  # a saved fold config: resolve what resolves, no Hydra needed
        value = OmegaConf.select(cfg, dotted, default=default, throw_on_resolution_failure=False)
        return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def finetune_deviations(cfg: Mapping[str, Any]) -> list[str]:
    """Fine-tuning settings of one fold's composed config that are not the paper's."""
    out = []
    sizes = {k: _get(cfg, f"model.encoder.{k}") for k in PAPER_ENCODER}
    if sizes["d_model"] is None:
        return [*out, f"model {_get(cfg, 'model.name')}: a baseline, not the paper's Transformer"]
    if sizes != PAPER_ENCODER:
        out.append("encoder " + ", ".join(f"{k} {v}" for k, v in sizes.items())
                   + " (the paper: 1024 / 6 layers / 8 heads / FFN 4096)")
    if not _get(cfg, "model.init_from"):
        out.append("no pre-training: the encoder starts from random weights")
    if _get(cfg, "model.finetune.freeze_encoder"):
        out.append("encoder frozen: only the head learns (a linear probe)")
    for key, paper in PAPER_FINETUNE.items():
        value = _get(cfg, key, ABSENT)
        if value is ABSENT:
            continue
        if value != paper and not (isinstance(paper, float) and value is not None
                                   and float(value) == paper):
            out.append(f"{key}={value} (the paper: {paper})")
    if _get(cfg, "data.subject_norm"):
        out.append("each patient's descriptors standardised by their own statistics "
                   "(data.subject_norm)")
    if _get(cfg, "model.head.motion_stats"):
        out.append("the head also reads each window's log mean / std of the motion energy "
                   "(model.head.motion_stats)")
    if _get(cfg, "model.finetune.head_lr") is not None:
        out.append(f"the head learns at its own rate {_get(cfg, 'model.finetune.head_lr')} "
                   "(model.finetune.head_lr)")
    if _get(cfg, "model.finetune.head_warmup_epochs"):
        out.append(f"encoder frozen for the first {_get(cfg, 'model.finetune.head_warmup_epochs')}"
                   " epochs while the head learns, then fine-tuned (LP-FT, "
                   "model.finetune.head_warmup_epochs)")
    if _get(cfg, "model.head.centered"):
        out.append("the head reads batch-standardised inputs and starts from zero weights "
                   "(model.head.centered)")
    if _get(cfg, "model.encoder.gap_marker"):
        out.append("the encoder marks positions of undefined motion with a token type "
                   "(model.encoder.gap_marker)")
    if _get(cfg, "loso.select.grid"):
        out.append(f"nested selection per fold over {dict(_get(cfg, 'loso.select.grid'))} "
                   "on the inner validation subjects")
    if _get(cfg, "backbone.weights", ABSENT) is None:
        out.append("random-weight frame descriptor (backbone.weights=null), not ImageNet")
    return out


def pretrain_deviations(recipe: Mapping[str, Any] | None) -> list[str]:
    """Pre-training settings recorded in the encoder export that are not the paper's."""
    if not recipe:
        return []
    out = [
        "pre-training loss: mean over positions (the paper's eq. 1 sums them; same AdamW update)"
    ]
    for key, paper in PAPER_PRETRAIN.items():
        if key not in recipe and key in ("lr", "max_epochs"):
            continue  # an export written before they were recorded
        value = recipe.get(key)
        if key == "crop_mode":
            if recipe.get("features") == "online":
                continue
            if value == "random":
                out.append(f"pre-training crops: {recipe.get('n_crops')} random crops per clip "
                           "cached, one drawn per epoch (the paper: a fresh one per epoch)")
                continue
        if value != paper and not (isinstance(paper, float) and value is not None
                                   and float(value) == paper):
            out.append(f"pre-training {key}={value} (the paper: {paper})")
    return out


def paper_deviations(cfg: Mapping[str, Any], recipe: Mapping[str, Any] | None) -> list[str]:
    """Every difference from the paper's method of one fold's config and its encoder export."""
    return [*finetune_deviations(cfg), *pretrain_deviations(recipe)]
