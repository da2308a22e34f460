"""Task ``pretrain``: denoising pre-training on contextual video, then an encoder-only export."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from omegaconf import DictConfig

from seizure_lightning.engine.checkpoints import CheckpointMetadata, run_resume_checkpoint
from seizure_lightning.engine.loggers import finish_loggers, setup_loggers
from seizure_lightning.engine.run_key import RUN_KEY_ENTRY, training_run_key
from seizure_lightning.engine.trainer import (
    build_callbacks,
    build_datamodule,
    build_module,
    build_trainer,
)
from seizure_lightning.utils.io import atomic_write_json
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


class SpecialDescriptors(pl.Callback):
    """Hands r(MASK) and r(PAD) of the DataModule's backbone to the module (after data setup)."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        pl_module.set_special_descriptors(*trainer.datamodule.special_descriptors())


def pretrain(cfg: DictConfig) -> float | None:
    """Fit the denoising module; write ``encoder.pt`` (weights + config + subjects seen)."""
    run_dir = Path(cfg.paths.output_dir)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg.pretrain.module, cfg)
    loggers = setup_loggers(cfg, run_dir)
    try:
        key = training_run_key(cfg)
        callbacks = [*build_callbacks(cfg), SpecialDescriptors(),
                     CheckpointMetadata({RUN_KEY_ENTRY: key})]
        trainer = build_trainer(cfg, run_dir, loggers, callbacks)
        trainer.fit(module, datamodule=datamodule,
                    ckpt_path=run_resume_checkpoint(cfg, run_dir, key), weights_only=True)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if trainer.is_global_zero:
            export = Path(cfg.pretrain.export or run_dir / "encoder.pt")
            module.export_encoder(export, datamodule.subjects_seen(),
                                  datamodule.has_unknown_subjects(), recipe(cfg, metrics))
            atomic_write_json(run_dir / "metrics.json", metrics)
            log.info("encoder export: %s", export)
            _report(metrics)
    finally:
        finish_loggers(loggers)
    return metrics.get("val/loss", metrics.get("train/loss"))


def recipe(cfg: DictConfig, metrics: dict[str, float]) -> dict:
    """How this encoder was pre-trained (stored in the export; a LOSO report compares it with
    the paper's method, loso/deviations.py)."""
    clip = cfg.trainer.get("gradient_clip_val")
    return {
        "loss_on": str(cfg.pretrain.module.corruption.loss_on),
        "crop_mode": str(cfg.data.get("crop_mode", "fixed_k")),
        "n_crops": int(cfg.data.get("n_crops", 1)),
        "features": str(cfg.data.get("features", "cached")),
        "val_fraction": float(cfg.data.get("val_fraction", 0.0)),
        "gradient_clip_val": None if clip is None else float(clip),
        "backbone_arch": str(cfg.backbone.arch),
        "max_epochs": int(cfg.trainer.max_epochs),
        "lr": float(cfg.optimizer.lr),
        "pretext_ratio": metrics.get("val/pretext/ratio"),
    }


def _report(metrics: dict[str, float]) -> None:
    """The run's last line: the losses and the pretext ratio (the model's loss on corrupted
    positions over the best trivial predictor's; below 1 = it learned more than copying)."""
    keys = ("train/loss", "val/loss", "val/pretext/model_corrupted", "val/pretext/copy_corrupted",
            "val/pretext/interpolate_corrupted", "val/pretext/mean_corrupted",
            "val/pretext/ratio")
    shown = ", ".join(f"{k}={metrics[k]:.4f}" for k in keys if k in metrics)
    log.info("pre-training done: %s", shown)
