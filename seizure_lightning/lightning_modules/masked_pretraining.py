"""Self-supervised denoising pre-training of the :class:`SequenceEncoder` (paper, eq. 1).

Each batch (``features``, ``attention_mask``, ``index``; ``data/datasets.py``) is corrupted on the fly: per sample, a span of frames
is relocated and a fraction of frames is replaced by r(MASK) (``data/corruption.py``), seeded by
``(seed, epoch, dataset index)`` so runs and resumes are reproducible. A linear head regresses the
ORIGINAL descriptors at every position, in the input representation the encoder reads them in
(``model.input``: e.g. standardised by the mean and RMS of the window's real, unmasked frames).
Checkpoints hold only primitive types and tensors, so they load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric

from seizure_lightning.data.corruption import (
    TRAIN_STREAM,
    VAL_STREAM,
    apply_corruption,
    batch_corruption_plan,
    corrupted_positions,
    interpolate_missing,
)
from seizure_lightning.lightning_modules.optim import (
    OptimizerFactory,
    SchedulerFactory,
    log_learning_rate,
    optimizers_and_schedule,
)
from seizure_lightning.models.encoder_export import save_encoder_export
from seizure_lightning.models.input_representation import InputConfig, InputRepresentation
from seizure_lightning.models.sequence_encoder import (
    SequenceEncoder,
    encoder_node,
    sequence_encoder_fields,
)
from seizure_lightning.utils.config import config_from_dict, merge_options
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

#: the trivial predictors the pretext is judged against, and the model itself
PRETEXT_PREDICTORS = ("model", "copy", "interpolate", "mean")
#: positions of a corrupted input: r(MASK), moved by the span permutation, untouched; and
#: "corrupted" = masked or moved (where copying the input is wrong)
PRETEXT_PARTS = ("masked", "moved", "untouched", "corrupted")
CORRUPTION_DEFAULTS: dict[str, Any] = {
    "span": 30,
    "mask_ratio": 0.15,
    "permute": True,
    "mask": True,
    "loss_on": "all",
}


def position_error(pred: Tensor, target: Tensor) -> Tensor:
    """Per-position regression error ``[B, L]``: the squared L2 distance (the paper's eq. 1)."""
    return (pred - target).pow(2).sum(-1)


def masked_mean(values: Tensor, select: Tensor) -> Tensor:
    """Mean of ``values`` over ``select`` (0 with a gradient path when nothing is selected)."""
    select = select.to(values.dtype)
    return (values * select).sum() / select.sum().clamp(min=1.0)


# ----------------------------------------------------------------------------- the module
class DenoisingPretrainModule(pl.LightningModule):
    """Denoising pre-training: corrupted descriptors in, original descriptors regressed.

    Args:
        encoder: :class:`SequenceEncoderConfig` fields (defaults: the paper's model), optionally
            with a ``_target_`` naming :class:`SequenceEncoder` and ``compile`` (the
            ``model.encoder`` node); ``input_dim`` is the input representation's width.
        input: the input representation (:class:`InputConfig`, the ``model.input`` node).
        corruption: ``span`` (30), ``mask_ratio`` (0.15), ``permute`` (True), ``mask`` (True),
            ``loss_on`` ("all": every non-pad position; "corrupted": moved or masked ones only).
        optimizer: a partial optimizer taking param groups (Hydra ``_partial_: true``);
            None = AdamW(lr 0.01, weight decay 1e-4), the paper's. Biases and norm weights get no
            weight decay.
        scheduler: ``scheduler(optimizer, total_steps)`` (a Hydra ``_partial_`` of
            ``optim.lr_schedule``), stepped per optimizer step over
            ``trainer.estimated_stepping_batches``; None = a constant rate.
        seed: base seed of the per-sample corruption.
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        input: Mapping[str, Any] | None = None,
        corruption: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.input_representation = InputRepresentation(config_from_dict(InputConfig, input))
        width = self.input_representation.output_dim
        fields, compile_model = encoder_node(encoder, width)
        config = sequence_encoder_fields(fields)
        encoder = {**config, "compile": compile_model}
        input = dataclasses.asdict(self.input_representation.config)
        corruption = merge_options("corruption", corruption, CORRUPTION_DEFAULTS)
        seed = int(seed)
        if corruption["loss_on"] not in ("all", "corrupted"):
            raise ValueError(
                f"corruption.loss_on must be 'all' or 'corrupted', got {corruption['loss_on']!r}"
            )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

        self.encoder = SequenceEncoder(config)
        dim = self.input_representation.config.descriptor_dim
        # the head regresses the original window in the encoder's representation
        self.head = nn.Linear(self.encoder.output_dim, width)
        self.register_buffer("mask_descriptor", torch.zeros(dim))
        self.register_buffer("pad_descriptor", torch.zeros(dim))
        # running mean of the training targets: the "predict the mean" baseline's prediction
        self.register_buffer("mean_descriptor", torch.zeros(width))
        self.register_buffer("mean_count", torch.zeros((), dtype=torch.float64))
        if compile_model:
            self.encoder.compile()
        # epoch means of each predictor's loss on each kind of position (DDP-synchronised)
        self.pretext = nn.ModuleDict({
            f"{stage}_{p}_{part}": MeanMetric()
            for stage in ("train", "val") for p in PRETEXT_PREDICTORS for part in PRETEXT_PARTS
        })

    # -- special descriptors -------------------------------------------------------------------
    def set_special_descriptors(self, mask: Tensor | np.ndarray, pad: Tensor | np.ndarray) -> None:
        """Store r(MASK) and r(PAD) ([input_dim] each) as buffers (saved in checkpoints)."""
        for name, value in (("mask_descriptor", mask), ("pad_descriptor", pad)):
            value = torch.as_tensor(np.asarray(value) if not isinstance(value, Tensor) else value)
            buf: Tensor = getattr(self, name)
            if value.shape != buf.shape:
                raise ValueError(
                    f"{name} must have shape {tuple(buf.shape)}, got {tuple(value.shape)}"
                )
            buf.copy_(value.to(buf.dtype))

    def on_fit_start(self) -> None:
        log.info(
            "DenoisingPretrainModule: %s trainable parameters (encoder %s incl. input projection)",
            f"{sum(p.numel() for p in self.parameters() if p.requires_grad):,}",
            f"{self.encoder.num_trainable_parameters():,}",
        )
        if not bool(self.mask_descriptor.any()):
            log.warning(
                "mask_descriptor is all zeros: call set_special_descriptors(r(MASK), r(PAD))"
            )

    # -- forward / loss ------------------------------------------------------------------------
    def forward(
        self, features: Tensor, attention_mask: Tensor, stats_mask: Tensor | None = None
    ) -> Tensor:
        """Reconstructed descriptors ``[B, L, width]`` in the input representation
        (``stats_mask``: the real frames, see :meth:`InputRepresentation.forward`)."""
        represented = self.input_representation(features, attention_mask, stats_mask)
        return self.head(self.encoder(represented.values, attention_mask, represented.gaps))

    def corrupt(
        self, batch: Mapping[str, Tensor], epoch: int, stream: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(corrupted features, order, masked)`` for a batch (plans on CPU, one gather on device)."""
        opts = self.hparams.corruption
        order, masked = batch_corruption_plan(
            batch["attention_mask"],
            batch["index"],
            base_seed=self.hparams.seed,
            epoch=epoch,
            stream=stream,
            span=int(opts["span"]),
            mask_ratio=float(opts["mask_ratio"]),
            permute=bool(opts["permute"]),
            mask=bool(opts["mask"]),
        )
        features = batch["features"]
        order = order.to(features.device, non_blocking=True)
        masked = masked.to(features.device, non_blocking=True)
        return apply_corruption(features, order, masked, self.mask_descriptor), order, masked

    def target(self, original: Tensor, inputs: Tensor, valid: Tensor, real: Tensor) -> Tensor:
        """What the head regresses (fp32): the original descriptors in the frame the encoder sees
        its input in (:meth:`InputRepresentation.target`)."""
        return self.input_representation.target(original, inputs, valid, real)

    def _update_mean_descriptor(self, target: Tensor, valid: Tensor) -> None:
        """Running mean of the training targets (the mean-descriptor baseline)."""
        count = valid.sum().to(self.mean_count.dtype)
        if self.trainer is not None and self.trainer.world_size > 1:
            total = (target * valid.unsqueeze(-1)).sum((0, 1))
            stats = self.all_gather(torch.cat([total, count.view(1).to(total.dtype)]))
            stats = stats.reshape(-1, total.numel() + 1).sum(0)
            total, count = stats[:-1], stats[-1].to(self.mean_count.dtype)
        else:
            total = (target * valid.unsqueeze(-1)).sum((0, 1))
        new_count = self.mean_count + count
        self.mean_descriptor.mul_(self.mean_count / new_count.clamp(min=1)).add_(
            total / new_count.clamp(min=1)
        )
        self.mean_count.copy_(new_count)

    def _step(self, batch: Mapping[str, Tensor], stage: str) -> Tensor:
        train = stage == "train"
        epoch = self.current_epoch if train else 0
        stream = TRAIN_STREAM if train else VAL_STREAM
        inputs, order, masked = self.corrupt(batch, epoch, stream)
        valid = batch["attention_mask"].to(torch.bool)
        real = valid & ~masked  # r(MASK) frames stay out of the representation's statistics
        target = self.target(batch["features"], inputs, valid, real)
        pred = self(inputs, valid, real).float()

        err = position_error(pred, target)  # [B, L]
        corrupted = corrupted_positions(order, masked) & valid
        loss_all = masked_mean(err, valid)
        loss = masked_mean(err, valid if self.hparams.corruption["loss_on"] == "all" else corrupted)

        with torch.no_grad():
            if train:
                self._update_mean_descriptor(target, valid)
            moved = (order != torch.arange(order.shape[1], device=order.device)) & ~masked
            self._update_pretext(stage, err, target, inputs, valid, real, {
                "masked": masked & valid, "moved": moved & valid,
                "untouched": valid & ~masked & ~moved, "corrupted": corrupted,
            })
            metrics = {
                f"{stage}/loss_all": loss_all,
                f"{stage}/loss_sum": (err * valid).sum(1).mean(),
                f"{stage}/cosine": masked_mean(F.cosine_similarity(pred, target, dim=-1), valid),
            }
        batch_size = valid.shape[0]
        self.log(
            f"{stage}/loss",
            loss,
            prog_bar=True,
            on_step=train,
            on_epoch=True,
            sync_dist=True,
            batch_size=batch_size,
        )
        self.log_dict(
            metrics, on_step=False, on_epoch=True, sync_dist=True, batch_size=batch_size
        )
        if train:
            log_learning_rate(self, batch_size, prog_bar=True)
        return loss

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    # -- the pretext, judged against trivial predictors ------------------------------------------
    def trivial_predictions(self, inputs: Tensor, valid: Tensor, real: Tensor) -> dict[str, Tensor]:
        """What predictors that learn nothing output for a corrupted input, in the target's
        frame: ``copy`` the input (the window's mean of the known positions where it has none),
        ``interpolate`` every unknown position from its nearest known neighbours, the running
        ``mean`` descriptor. A position is known where the representation's value comes from
        real frames (``energy``: its frame and the one before; an r(MASK) frame leaves two
        gaps)."""
        represented = self.input_representation(inputs, valid, real)
        copy, known = represented.values.float(), represented.known
        mean_of_known = (copy * known.unsqueeze(-1)).sum(1, keepdim=True) / known.sum(
            1, keepdim=True).clamp(min=1).unsqueeze(-1)
        copy = torch.where((valid & ~known).unsqueeze(-1), mean_of_known, copy)
        return {"copy": copy, "interpolate": interpolate_missing(copy, known),
                "mean": self.mean_descriptor.expand_as(copy)}

    def _update_pretext(self, stage: str, err: Tensor, target: Tensor, inputs: Tensor,
                        valid: Tensor, real: Tensor, parts: dict[str, Tensor]) -> None:
        errors = {"model": err}
        for name, guess in self.trivial_predictions(inputs, valid, real).items():
            errors[name] = (guess.float() - target).pow(2).sum(-1)
        for name, e in errors.items():
            for part, select in parts.items():
                self.pretext[f"{stage}_{name}_{part}"].update(e[select])

    def pretext_summary(self, stage: str) -> dict[str, float]:
        """This epoch's mean loss of every predictor on every kind of position, and
        ``ratio``: the model's loss on corrupted positions over the best trivial predictor's
        there (below 1: the model knows more than copying, interpolating or the mean)."""
        out = {}
        for key, metric in self.pretext.items():
            if key.startswith(f"{stage}_"):
                if metric.update_count:
                    out[key[len(stage) + 1:]] = float(metric.compute())
                metric.reset()
        trivial = [out[f"{p}_corrupted"] for p in PRETEXT_PREDICTORS[1:]
                   if f"{p}_corrupted" in out]
        if trivial and "model_corrupted" in out:
            out["ratio"] = out["model_corrupted"] / max(min(trivial), 1e-12)
        return out

    def _log_pretext(self, stage: str) -> None:
        summary = self.pretext_summary(stage)
        if summary:
            self.log_dict({f"{stage}/pretext/{k}": v for k, v in summary.items()},
                          on_step=False, on_epoch=True)

    def on_train_epoch_end(self) -> None:
        self._log_pretext("train")

    def on_validation_epoch_end(self) -> None:
        self._log_pretext("val")

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    # -- optimisation --------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        return optimizers_and_schedule(
            self.optimizer_factory, [self.encoder, self.head], 0.01, self.scheduler_factory,
            self.trainer.estimated_stepping_batches,
        )

    # -- export --------------------------------------------------------------------------------
    def export_encoder(self, path: str | Path, subjects_seen: Iterable[str],
                       subjects_unknown: bool = False, recipe: dict | None = None) -> Path:
        """Encoder-only file for the classifier (call on rank zero only under DDP);
        ``subjects_unknown``: some contextual clips had no subject id (an overlap with a test
        subject can then not be ruled out); ``recipe``: how it was pre-trained (plain values)."""
        extra = {
            "recipe": dict(recipe or {}),
            "mask_descriptor": self.mask_descriptor.detach().cpu().clone(),
            "pad_descriptor": self.pad_descriptor.detach().cpu().clone(),
            "subjects_unknown": bool(subjects_unknown),
        }
        return save_encoder_export(path, self.encoder, self.input_representation.config,
                                   subjects_seen, extra=extra)
