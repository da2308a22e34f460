"""Self-supervised denoising pre-training of the :class:`SequenceEncoder` (paper, eq. 1).

Each batch (CONTRACT.md "Sequence batches") is corrupted on the fly: per sample, a span of frames
is relocated and a fraction of frames is replaced by r(MASK) (``data/corruption.py``), seeded by
``(seed, epoch, dataset index)`` so runs and resumes are reproducible. A linear head regresses the
ORIGINAL descriptor at every position (with ``encoder.input_norm="window"``: standardised like the
encoder's input, by the mean and RMS of the window's real, unmasked frames). Checkpoints hold
only primitive types and tensors, so they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

from seizure_lightning.data.corruption import (
    TRAIN_STREAM,
    VAL_STREAM,
    apply_corruption,
    batch_corruption_plan,
    corrupted_positions,
)
from seizure_lightning.models.input_norm import standardize, window_statistics
from seizure_lightning.models.sequence_encoder import SequenceEncoder, SequenceEncoderConfig
from seizure_lightning.utils.io import atomic_write_bytes
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

ENCODER_EXPORT_FORMAT = "seizure-lightning-encoder/1"
CORRUPTION_DEFAULTS: dict[str, Any] = {
    "span": 30,
    "mask_ratio": 0.15,
    "permute": True,
    "mask": True,
    "loss_on": "all",
}
SCHEDULER_DEFAULTS: dict[str, Any] = {"name": "linear", "warmup_ratio": 0.0, "warmup_steps": None}
OptimizerFactory = Callable[[Iterable[Any]], torch.optim.Optimizer]


# ----------------------------------------------------------------------------- shared helpers
def to_primitive(value: Any) -> Any:
    """Plain Python (dict/list/str/int/float/bool/None) from OmegaConf/numpy/tuple values."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if isinstance(value, Mapping):
        return {str(k): to_primitive(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_primitive(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def merge_options(name: str, given: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict:
    """``defaults`` updated by ``given``; unknown keys raise ``ValueError`` naming them."""
    given = to_primitive(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {name} keys: {unknown}; known: {sorted(defaults)}")
    return {**defaults, **given}


def param_groups(modules: Iterable[nn.Module]) -> list[dict[str, Any]]:
    """Trainable params in two groups: weight decay on matrices, none on biases and norms."""
    decay, no_decay = [], []
    for module in modules:
        for p in module.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(
    factory: OptimizerFactory | None, modules: Iterable[nn.Module], default_lr: float
) -> torch.optim.Optimizer:
    """``factory(param_groups)`` (a Hydra ``_partial_`` optimizer) or AdamW(default_lr, wd 1e-4)."""
    groups = param_groups(modules)
    if factory is None:
        return torch.optim.AdamW(groups, lr=default_lr, weight_decay=1e-4)
    return factory(groups)


def build_scheduler(
    optimizer: torch.optim.Optimizer, options: Mapping[str, Any], total_steps: int
) -> dict[str, Any] | None:
    """Per-step LR schedule from ``{name: linear|constant|none, warmup_ratio, warmup_steps}``."""
    name = options.get("name") or "none"
    if name == "none":
        return None
    total_steps = max(int(total_steps), 1)
    warmup = options.get("warmup_steps")
    if warmup is None:
        warmup = math.floor(float(options.get("warmup_ratio") or 0.0) * total_steps)
    if name == "linear":
        scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup), total_steps)
    elif name == "constant":
        scheduler = get_constant_schedule_with_warmup(optimizer, int(warmup))
    else:
        raise ValueError(f"unknown scheduler name {name!r}; use 'linear', 'constant' or 'none'")
    return {"scheduler": scheduler, "interval": "step", "frequency": 1}


def optimizers_and_schedule(
    factory: OptimizerFactory | None,
    modules: Iterable[nn.Module],
    default_lr: float,
    scheduler: Mapping[str, Any],
    total_steps: int,
) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, with its per-step schedule if any."""
    optimizer = build_optimizer(factory, modules, default_lr=default_lr)
    schedule = build_scheduler(optimizer, scheduler, total_steps)
    if schedule is None:
        return optimizer
    return {"optimizer": optimizer, "lr_scheduler": schedule}


def log_learning_rate(module: pl.LightningModule, batch_size: int, prog_bar: bool = False) -> None:
    """Log the first param group's current rate as ``train/lr`` (per step), once optimizers
    exist (a training step of either module)."""
    if module.trainer.optimizers:
        module.log(
            "train/lr",
            module.trainer.optimizers[0].param_groups[0]["lr"],
            on_step=True,
            on_epoch=False,
            prog_bar=prog_bar,
            batch_size=batch_size,
        )


def masked_mean(values: Tensor, select: Tensor) -> Tensor:
    """Mean of ``values`` over ``select`` (0 with a gradient path when nothing is selected)."""
    select = select.to(values.dtype)
    return (values * select).sum() / select.sum().clamp(min=1.0)


# ----------------------------------------------------------------------------- encoder export
def save_encoder_export(
    path: str | Path,
    encoder: SequenceEncoder,
    subjects_seen: Iterable[str],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write an encoder-only file atomically (loads with ``weights_only=True``)."""
    payload = {
        "format": ENCODER_EXPORT_FORMAT,
        "encoder_config": encoder.config.to_dict(),
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
    """``(encoder with the exported weights, meta)``; meta has everything but the weights."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != ENCODER_EXPORT_FORMAT:
        fmt = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path} is not a seizure-lightning encoder export "
            f"(format {fmt!r}, expected {ENCODER_EXPORT_FORMAT!r})"
        )
    encoder = SequenceEncoder(SequenceEncoderConfig.from_dict(payload["encoder_config"]))
    encoder.load_state_dict(payload["state_dict"], strict=True)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return encoder, meta


# ----------------------------------------------------------------------------- the module
class DenoisingPretrainModule(pl.LightningModule):
    """Denoising pre-training: corrupted descriptors in, original descriptors regressed.

    Args:
        encoder: :class:`SequenceEncoderConfig` fields (defaults: the paper's model).
        corruption: ``span`` (30), ``mask_ratio`` (0.15), ``permute`` (True), ``mask`` (True),
            ``loss_on`` ("all": every non-pad position; "corrupted": moved or masked ones only).
        optimizer: a partial optimizer taking param groups (Hydra ``_partial_: true``);
            None = AdamW(lr 0.01, weight decay 1e-4), the paper's. Biases and norm weights get no
            weight decay.
        scheduler: ``name`` ("linear" decay | "constant" | "none"), ``warmup_ratio`` or
            ``warmup_steps``; stepped per optimizer step over ``trainer.estimated_stepping_batches``.
        seed: base seed of the per-sample corruption.
        compile: ``torch.compile`` the encoder (in place; state-dict keys unchanged).
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        corruption: Mapping[str, Any] | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: Mapping[str, Any] | None = None,
        seed: int = 0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        encoder = SequenceEncoderConfig.from_dict(to_primitive(encoder)).to_dict()
        corruption = merge_options("corruption", corruption, CORRUPTION_DEFAULTS)
        scheduler = merge_options("scheduler", scheduler, SCHEDULER_DEFAULTS)
        seed, compile = int(seed), bool(compile)
        if corruption["loss_on"] not in ("all", "corrupted"):
            raise ValueError(
                f"corruption.loss_on must be 'all' or 'corrupted', got {corruption['loss_on']!r}"
            )
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.optimizer_factory = optimizer

        self.encoder = SequenceEncoder(SequenceEncoderConfig.from_dict(encoder))
        dim = self.encoder.config.input_dim
        self.head = nn.Linear(self.encoder.output_dim, dim)
        self.register_buffer("mask_descriptor", torch.zeros(dim))
        self.register_buffer("pad_descriptor", torch.zeros(dim))
        # running mean of the training descriptors: the "predict the mean" baseline's prediction
        self.register_buffer("mean_descriptor", torch.zeros(dim))
        self.register_buffer("mean_count", torch.zeros((), dtype=torch.float64))
        if compile:
            self.encoder.compile()

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
        """Reconstructed descriptors ``[B, L, input_dim]`` (``stats_mask``: see
        :meth:`SequenceEncoder.forward`)."""
        return self.head(self.encoder(features, attention_mask, stats_mask))

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
        """What the head regresses (fp32): the original descriptors, standardised like the
        encoder's input under ``input_norm="window"`` (by the mean and RMS of the input's
        ``real`` frames, the same statistics the encoder uses)."""
        if self.encoder.config.input_norm == "none":
            return original.float()
        mean, rms = window_statistics(inputs, real)
        return standardize(original.float(), valid, mean, rms)

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
        real = valid & ~masked  # r(MASK) frames stay out of the input_norm statistics
        target = self.target(batch["features"], inputs, valid, real)
        pred = self(inputs, valid, real).float()

        err = (pred - target).pow(2).sum(-1)  # [B, L] squared L2 per position
        corrupted = corrupted_positions(order, masked) & valid
        loss_all = masked_mean(err, valid)
        loss = (
            loss_all if self.hparams.corruption["loss_on"] == "all" else masked_mean(err, corrupted)
        )

        with torch.no_grad():
            if train:
                self._update_mean_descriptor(target, valid)
            # the constant predictor "mean descriptor of the training frames seen so far"
            baseline = masked_mean((target - self.mean_descriptor).pow(2).sum(-1), valid)
            cosine = masked_mean(F.cosine_similarity(pred, target, dim=-1), valid)
            metrics = {
                f"{stage}/loss_all": loss_all,
                f"{stage}/loss_sum": (err * valid).sum(1).mean(),
                f"{stage}/loss_masked": masked_mean(err, masked & valid),
                f"{stage}/loss_corrupted": masked_mean(err, corrupted),
                f"{stage}/loss_mean_baseline": baseline,
                f"{stage}/cosine": cosine,
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

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    # -- optimisation --------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        return optimizers_and_schedule(
            self.optimizer_factory, [self.encoder, self.head], 0.01, self.hparams.scheduler,
            self.trainer.estimated_stepping_batches,
        )

    # -- export --------------------------------------------------------------------------------
    def export_encoder(self, path: str | Path, subjects_seen: Iterable[str]) -> Path:
        """Encoder-only file for the classifier (call on rank zero only under DDP)."""
        extra = {
            "mask_descriptor": self.mask_descriptor.detach().cpu().clone(),
            "pad_descriptor": self.pad_descriptor.detach().cpu().clone(),
        }
        return save_encoder_export(path, self.encoder, subjects_seen, extra=extra)
