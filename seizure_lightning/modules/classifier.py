"""ES vs PNES window classifier: a sequence model, pooling over valid frames, dropout, a linear
head.

``encoder`` is the sequence model's config node: a ``_target_`` (``SequenceEncoder``, or a
baseline of ``models/baselines.py``) and its fields, instantiated here, so a checkpoint alone
rebuilds the module. Test and predict steps collect per-window softmax probabilities with
``video_idx`` and ``start``; :meth:`ClassifierModule.window_predictions` returns every rank's
windows once each, which ``engine/inference.py`` averages per video (the paper's rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hydra.utils import get_class, instantiate
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seizure_lightning.models.encoder_export import load_encoder_export
from seizure_lightning.models.input_norm import energy_log_stats
from seizure_lightning.models.sequence_encoder import SequenceEncoder
from seizure_lightning.modules.optim import (
    OptimizerFactory,
    SchedulerFactory,
    log_learning_rate,
    optimizers_and_schedule,
)
from seizure_lightning.utils.config import to_primitive
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

# Fields of the transformer config that only change regularisation/kernels, not the weights.
_RUNTIME_FIELDS = ("dropout", "attention_dropout", "attn_implementation")
WINDOW_KEYS = ("video_idx", "start", "probs")


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
        encoder: the sequence model's config node: ``_target_`` (default
            :class:`SequenceEncoder`) and its fields.
        init_from: encoder export of a pre-training run (a :class:`SequenceEncoder` only); its
            architecture wins over ``encoder`` (runtime fields such as dropout still come from
            ``encoder``).
        pooling: "mean" over valid frames or "first" position.
        dropout: before the linear head (paper: 0.5).
        num_classes: 2 (ES = 0, PNES = 1).
        class_weights: cross-entropy class weights (the caller computes them from the training
            fold); None = unweighted.
        optimizer: partial optimizer over param groups; None = AdamW(lr 0.005, wd 1e-4).
        scheduler: as in ``DenoisingPretrainModule`` (a ``_partial_`` of ``optim.lr_schedule``).
        lr: this model's fine-tuning rate (overrides the optimizer's ``lr``; None: keep it).
        freeze_encoder: train the head only (encoder frozen and kept in eval mode).
        compile: ``torch.compile`` the encoder (in place; state-dict keys unchanged).
        name: the model's name in logs and reports.
        from_scratch: a Transformer without ``init_from`` is meant to train from random weights
            (the ``*_scratch`` ablations); the fold runner refuses one without it.
        subject_norm: the fold's DataModule standardises each patient's descriptors by their own
            statistics (``data.seizure.subject_statistics``); kept here so the checkpoint says
            how its inputs were made.
        motion_stats: the head also reads the window's log mean and log std of the motion energy
            (``models.input_norm.energy_log_stats``): how much the window moves, which a
            per-window standardised input (``input_norm=energy``) does not show the encoder.
        head_lr: the head's own rate (None: ``lr``), e.g. a linear probe's on a fine-tuned
            encoder.
        head_warmup_epochs: the encoder stays frozen (and in eval mode) for the first this many
            epochs while the head trains, then trains too: linear probing, then fine-tuning
            (LP-FT, Kumar et al. 2022), so a random head does not first push its gradient into
            the pre-trained features.
        centered_head: the head reads its inputs standardised over the batch (``BatchNorm1d``
            without affine parameters, MAE's linear-probe head, He et al. 2022; running
            statistics at evaluation, so it stays linear) and starts from zero weights, so that
            every fold's model starts at p = 0.5 and its offset is its bias alone, not an
            accident of the random head on inputs that are not centred.
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        init_from: str | None = None,
        pooling: str = "mean",
        dropout: float = 0.5,
        num_classes: int = 2,
        class_weights: list[float] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        lr: float | None = None,
        freeze_encoder: bool = False,
        compile: bool = False,
        name: str = "classifier",
        from_scratch: bool = False,
        subject_norm: bool = False,
        motion_stats: bool = False,
        head_lr: float | None = None,
        head_warmup_epochs: int = 0,
        centered_head: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "first"):
            raise ValueError(f"pooling must be 'mean' or 'first', got {pooling!r}")
        encoder = to_primitive(dict(encoder or {}))
        encoder.setdefault("_target_", f"{SequenceEncoder.__module__}.{SequenceEncoder.__name__}")
        init_from = None if init_from in (None, "") else str(init_from)
        class_weights = (
            None if class_weights is None else [float(w) for w in to_primitive(class_weights)]
        )
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class_weights needs {num_classes} values, got {class_weights}")
        dropout, num_classes = float(dropout), int(num_classes)
        lr = None if lr is None else float(lr)
        head_lr = None if head_lr is None else float(head_lr)
        head_warmup_epochs = int(head_warmup_epochs)
        if head_warmup_epochs < 0:
            raise ValueError(f"head_warmup_epochs must be >= 0, got {head_warmup_epochs}")

        self.pretrain_meta: dict[str, Any] | None = None
        if init_from is not None:
            if not issubclass(get_class(encoder["_target_"]), SequenceEncoder):
                raise ValueError(f"init_from needs a SequenceEncoder, got {encoder['_target_']!r}")
            self.backbone, encoder = self._load_pretrained(init_from, encoder)
        else:
            self.backbone = instantiate(encoder)
            if isinstance(self.backbone, SequenceEncoder):  # every field, defaults included
                encoder = {"_target_": encoder["_target_"], **self.backbone.config.to_dict()}
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

        self.dropout = nn.Dropout(dropout)
        head_dim = self.backbone.output_dim + (2 if motion_stats else 0)
        self.head_norm = nn.BatchNorm1d(head_dim, affine=False) if centered_head else None
        self.head = nn.Linear(head_dim, num_classes)
        if centered_head:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weight", weight, persistent=False)
        if freeze_encoder:
            self.backbone.requires_grad_(False)
        if compile:
            self.backbone.compile()

        self.train_metrics = _window_metrics(num_classes, "train/")
        self.val_metrics = _window_metrics(num_classes, "val/")
        self.test_metrics = _window_metrics(num_classes, "test/")
        self.window_outputs: list[dict[str, Tensor]] = []

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
            k for k in given
            if k != "_target_" and k not in _RUNTIME_FIELDS and given[k] != config.get(k)
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
            encoder = SequenceEncoder(config)
            encoder.load_state_dict(state)
        self.pretrain_meta = {**meta, "path": str(Path(path).resolve())}
        log.info(
            "initialised encoder from %s (subjects seen in pre-training: %d)",
            path,
            len(meta.get("subjects_seen", [])),
        )
        return encoder, {"_target_": given["_target_"], **config}

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
        stats = (energy_log_stats(features, attention_mask).to(pooled.dtype)
                 if self.hparams.get("motion_stats", False) else pooled[:, :0])
        if self.head_norm is not None:  # standardise first, then drop out the encoder's part
            normed = self.normalize_head_input(torch.cat([pooled, stats], dim=1).float())
            normed = normed.to(pooled.dtype)
            pooled, stats = normed[:, : pooled.shape[1]], normed[:, pooled.shape[1]:]
        return self.head(torch.cat([self.dropout(pooled), stats], dim=1))

    def normalize_head_input(self, x: Tensor) -> Tensor:
        """``centered_head``'s BatchNorm; a training batch of one window (the last batch of an
        epoch can be) has no batch statistics, so it is standardised by the running ones."""
        norm = self.head_norm
        if self.training and x.shape[0] < 2:
            return F.batch_norm(x, norm.running_mean, norm.running_var, training=False,
                                eps=norm.eps)
        return norm(x)

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

    def encoder_frozen(self, epoch: int) -> bool:
        """Whether the encoder is frozen in ``epoch`` (``freeze_encoder``, or the head's warmup)."""
        return bool(self.hparams.freeze_encoder) or epoch < self.hparams.get(
            "head_warmup_epochs", 0)

    def on_train_epoch_start(self) -> None:
        frozen = self.encoder_frozen(self.current_epoch)
        if not self.hparams.freeze_encoder:  # frozen params get no gradient, AdamW skips them
            self.backbone.requires_grad_(not frozen)
        if frozen:
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
        self.window_outputs.append(out)
        return out

    def on_test_epoch_start(self) -> None:
        self.window_outputs = []

    def on_predict_epoch_start(self) -> None:
        self.window_outputs = []

    def test_step(
        self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict:
        out = self._window_output(batch)
        if "label" in batch:
            self.test_metrics.update(out["probs"].to(self.device), batch["label"])
            self.log_dict(self.test_metrics, on_step=False, on_epoch=True)
        return out

    def predict_step(
        self, batch: Mapping[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict:
        return self._window_output(batch)

    def window_predictions(self) -> dict[str, Tensor]:
        """The windows of the last test or predict loop, every rank's, each (video, start) once:
        ``video_idx``, ``start`` and ``probs`` (a collective under DDP: every rank must call it)."""
        local = {k: torch.cat([o[k] for o in self.window_outputs]) if self.window_outputs
                 else torch.empty(0, *((2,) if k == "probs" else ()))
                 for k in WINDOW_KEYS}
        return unique_windows(gather_windows(local))

    # -- optimisation --------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        if not self.hparams.freeze_encoder:  # the optimizer holds the encoder even in warmup
            self.backbone.requires_grad_(True)
        return optimizers_and_schedule(
            self.optimizer_factory, [self.backbone, self.head], 0.005, self.scheduler_factory,
            self.trainer.estimated_stepping_batches, lr=self.hparams.lr,
            lrs=None if self.hparams.get("head_lr") is None else {1: self.hparams.head_lr},
        )


def gather_windows(out: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every rank's windows, concatenated in rank order (the rank's own under one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return out
    shards: list[dict[str, Tensor] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(shards, {k: v.cpu() for k, v in out.items()})
    return {k: torch.cat([s[k] for s in shards if s]) for k in out}


def unique_windows(out: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each (video, start) once, at its first occurrence (DistributedSampler pads with repeats),
    in that order."""
    keys = torch.stack([out["video_idx"].long(), out["start"].long()], 1)
    if not len(keys):
        return out
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    keep = first.sort().values
    return {k: v[keep] for k, v in out.items()}
