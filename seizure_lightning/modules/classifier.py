"""ES vs PNES window classifier: a backbone, pooling over valid frames, dropout, a linear head.

``kind`` picks the backbone: "transformer" (:class:`SequenceEncoder`, optionally initialised from a
pre-training export), "meanpool_linear" or "lstm" (``models/baselines.py``). Test/predict steps
return per-window softmax probabilities with ``video_idx`` and ``start`` so the caller can average
them per video (``evaluation``'s ``video_probabilities``); after ``trainer.test`` the windows are
in ``module.test_window_outputs`` (one CPU dict per batch, this rank's share under DDP).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seizure_lightning.models.baselines import LSTMClassifier, MeanPoolLinear, MotionSpectrum
from seizure_lightning.models.sequence_encoder import SequenceEncoder, SequenceEncoderConfig
from seizure_lightning.modules.pretrain import (
    OptimizerFactory,
    load_encoder_export,
    log_learning_rate,
    merge_options,
    optimizers_and_schedule,
    to_primitive,
)
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

KINDS = ("transformer", "meanpool_linear", "lstm", "motion_spectrum")
# Fields of the transformer config that only change regularisation/kernels, not the weights.
_RUNTIME_FIELDS = ("dropout", "attention_dropout", "attn_implementation")
SCHEDULER_DEFAULTS: dict[str, Any] = {"name": "linear", "warmup_ratio": 0.0, "warmup_steps": None}


def build_backbone(kind: str, encoder: Mapping[str, Any] | None) -> nn.Module:
    """The backbone for ``kind`` from its config dict (unknown keys raise)."""
    if kind == "transformer":
        return SequenceEncoder(SequenceEncoderConfig.from_dict(encoder))
    if kind == "meanpool_linear":
        return MeanPoolLinear(encoder)
    if kind == "lstm":
        return LSTMClassifier(encoder)
    if kind == "motion_spectrum":
        return MotionSpectrum(encoder)
    raise ValueError(f"unknown model kind {kind!r}; use one of {KINDS}")


def _window_metrics(num_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
            "bal_acc": MulticlassAccuracy(num_classes=num_classes, average="macro"),
            "f1_macro": MulticlassF1Score(num_classes=num_classes, average="macro"),
        },
        prefix=prefix,
    )


class ClassifierModule(pl.LightningModule):
    """Window classifier with class-weighted cross-entropy.

    Args:
        kind: "transformer" | "meanpool_linear" | "lstm".
        encoder: backbone config fields (SequenceEncoderConfig / MeanPoolConfig / LSTMConfig).
        init_from: encoder export of a pre-training run (transformer only); its architecture wins
            over ``encoder`` (runtime fields such as dropout still come from ``encoder``).
        pooling: "mean" over valid frames or "first" position.
        dropout: before the linear head (paper: 0.5).
        num_classes: 2 (ES = 0, PNES = 1).
        class_weights: cross-entropy class weights (the caller computes them from the training
            fold, e.g. reciprocal window counts); None = unweighted.
        optimizer: partial optimizer over param groups; None = AdamW(lr 0.005, wd 1e-4).
        scheduler: as in ``DenoisingPretrainModule`` (default linear decay, no warmup).
        freeze_encoder: train the head only (backbone frozen and kept in eval mode).
    """

    def __init__(
        self,
        kind: str = "transformer",
        encoder: Mapping[str, Any] | None = None,
        init_from: str | None = None,
        pooling: str = "mean",
        dropout: float = 0.5,
        num_classes: int = 2,
        class_weights: list[float] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: Mapping[str, Any] | None = None,
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; use one of {KINDS}")
        if pooling not in ("mean", "first"):
            raise ValueError(f"pooling must be 'mean' or 'first', got {pooling!r}")
        encoder = to_primitive(encoder) or {}
        init_from = None if init_from in (None, "") else str(init_from)
        class_weights = (
            None if class_weights is None else [float(w) for w in to_primitive(class_weights)]
        )
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class_weights needs {num_classes} values, got {class_weights}")
        scheduler = merge_options("scheduler", scheduler, SCHEDULER_DEFAULTS)
        dropout, num_classes, freeze_encoder = (
            float(dropout),
            int(num_classes),
            bool(freeze_encoder),
        )

        self.pretrain_meta: dict[str, Any] | None = None
        if init_from is not None:
            if kind != "transformer":
                raise ValueError(f"init_from needs kind='transformer', got {kind!r}")
            self.backbone, encoder = self._load_pretrained(init_from, encoder)
        else:
            self.backbone = build_backbone(kind, encoder)
            if kind == "transformer":
                encoder = self.backbone.config.to_dict()
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.optimizer_factory = optimizer

        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.backbone.output_dim, num_classes)
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)
        if freeze_encoder:
            self.backbone.requires_grad_(False)

        self.train_metrics = _window_metrics(num_classes, "train/")
        self.val_metrics = _window_metrics(num_classes, "val/")
        self.test_metrics = _window_metrics(num_classes, "test/")
        self.test_window_outputs: list[dict[str, Tensor]] = []

    def set_class_weights(self, weights: list[float] | Tensor | None) -> None:
        """Cross-entropy class weights (e.g. computed from the training fold after data setup)."""
        if weights is None:
            self.class_weight = None
            return
        weight = torch.as_tensor(weights, dtype=torch.float32, device=self.device).flatten()
        if weight.numel() != self.hparams.num_classes:
            raise ValueError(f"class_weights needs {self.hparams.num_classes} values, got {weights}")
        self.class_weight = weight

    def _load_pretrained(self, path: str, given: Mapping[str, Any]) -> tuple[SequenceEncoder, dict]:
        encoder, meta = load_encoder_export(path)
        config = encoder.config.to_dict()
        differing = sorted(
            k for k in given if k not in _RUNTIME_FIELDS and given[k] != config.get(k)
        )
        if differing:
            log.warning(
                "init_from %s: architecture taken from the export, ignoring model.encoder %s",
                path,
                {k: given[k] for k in differing},
            )
        for key in _RUNTIME_FIELDS:
            if key in given:
                config[key] = given[key]
        if any(key in given for key in _RUNTIME_FIELDS):  # rebuild with the new dropout/kernel
            state = encoder.state_dict()
            encoder = SequenceEncoder(SequenceEncoderConfig.from_dict(config))
            encoder.load_state_dict(state)
        self.pretrain_meta = {**meta, "path": str(Path(path).resolve())}
        log.info(
            "initialised encoder from %s (subjects seen in pre-training: %d)",
            path,
            len(meta.get("subjects_seen", [])),
        )
        return encoder, config

    # -- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The weights are in the state dict: reloading must not need the export file any more.
        hparams = checkpoint.get("hyper_parameters")
        if isinstance(hparams, dict) and hparams.get("init_from") is not None:
            hparams["init_from"] = None
        if self.pretrain_meta is not None:
            checkpoint["pretrain_meta"] = to_primitive(self.pretrain_meta)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "pretrain_meta" in checkpoint:
            self.pretrain_meta = checkpoint["pretrain_meta"]

    # -- forward -------------------------------------------------------------------------------
    def pool(self, hidden: Tensor, attention_mask: Tensor) -> Tensor:
        """``[B, L, H] -> [B, H]`` (mean over valid positions, or the first position)."""
        if self.hparams.pooling == "first":
            return hidden[:, 0]
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, features: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``."""
        attention_mask = attention_mask.to(torch.bool)
        hidden = self.backbone(features, attention_mask)
        pooled = hidden if hidden.dim() == 2 else self.pool(hidden, attention_mask)
        return self.head(self.dropout(pooled))

    def loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Class-weighted cross-entropy (fp32)."""
        return F.cross_entropy(logits.float(), labels, weight=self.class_weight)

    # -- steps ---------------------------------------------------------------------------------
    def _labelled_step(
        self, batch: Mapping[str, Tensor], metrics: MetricCollection, stage: str
    ) -> Tensor:
        logits = self(batch["features"], batch["attention_mask"])
        labels = batch["label"]
        loss = self.loss(logits, labels)
        metrics.update(logits.detach(), labels)
        train = stage == "train"
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=train,
            on_epoch=True,
            sync_dist=not train,
            batch_size=labels.shape[0],
        )
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=not train)
        return loss

    def on_train_epoch_start(self) -> None:
        if self.hparams.freeze_encoder:
            self.backbone.eval()

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._labelled_step(batch, self.train_metrics, "train")
        log_learning_rate(self, batch["label"].shape[0])
        return loss

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        return self._labelled_step(batch, self.val_metrics, "val")

    def _window_output(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits = self(batch["features"], batch["attention_mask"])
        out = {
            "video_idx": batch["video_idx"].detach().cpu(),
            "start": batch["start"].detach().cpu(),
            "probs": logits.float().softmax(-1).detach().cpu(),
        }
        if "label" in batch:
            out["label"] = batch["label"].detach().cpu()
        return out

    def on_test_epoch_start(self) -> None:
        self.test_window_outputs = []

    def test_step(
        self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict:
        out = self._window_output(batch)
        self.test_window_outputs.append(out)
        if "label" in batch:
            self.test_metrics.update(out["probs"].to(self.device), batch["label"])
            self.log_dict(self.test_metrics, on_step=False, on_epoch=True)
        return out

    def predict_step(
        self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict:
        return self._window_output(batch)

    def test_window_predictions(self) -> dict[str, Tensor]:
        """The collected test windows concatenated: video_idx, start, probs (and label)."""
        if not self.test_window_outputs:
            return {}
        keys = self.test_window_outputs[0].keys()
        return {k: torch.cat([o[k] for o in self.test_window_outputs]) for k in keys}

    # -- optimisation --------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        return optimizers_and_schedule(
            self.optimizer_factory, [self.backbone, self.head], 0.005, self.hparams.scheduler,
            self.trainer.estimated_stepping_batches,
        )
