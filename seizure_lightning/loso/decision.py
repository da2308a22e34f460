"""A fold's decision rule (``loso.decision``): the paper's argmax, or the p_PNES threshold that
balances the fold's inner validation subjects (``evaluation/decision.py`` ``choose_threshold``).
"""

from __future__ import annotations

import lightning.pytorch as pl
from omegaconf import DictConfig

from seizure_lightning.engine.inference import predict_windows, video_predictions
from seizure_lightning.evaluation.decision import DECISIONS, choose_threshold
from seizure_lightning.modules.classifier import ClassifierModule
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


def check_decision(cfg: DictConfig) -> str:
    """``loso.decision`` if it is a known rule (checked before training, not after)."""
    decision = cfg.loso.get("decision", "argmax")
    if decision not in DECISIONS:
        raise ValueError(f"loso.decision must be one of {DECISIONS}, got {decision!r}")
    return decision


def validation_threshold(trainer: pl.Trainer, module: ClassifierModule, datamodule,
                         ckpt: str | None) -> float:
    """The p_PNES threshold that balances the inner validation subjects' videos (video
    probabilities by the same path as the test's)."""
    loader = datamodule.val_dataloader()
    if not loader:
        raise ValueError("loso.decision=val_threshold needs inner validation subjects: "
                         "set data.split.val_fraction > 0")
    windows = predict_windows(trainer, module, loader, ckpt_path=ckpt)
    videos, _ = video_predictions(windows, datamodule.videos, datamodule.window)
    labels = (videos.label == "PNES").astype(int).tolist()
    if len(set(labels)) < 2:
        log.warning("loso.decision=val_threshold: the inner validation subjects %s have videos "
                    "of one class only; this fold keeps the argmax rule (threshold 0.5)",
                    datamodule.split["val"])
        return 0.5
    return choose_threshold(labels, videos.p_PNES.tolist())


def decision_threshold(cfg: DictConfig, trainer: pl.Trainer, module: ClassifierModule,
                       datamodule, ckpt: str | None) -> float | None:
    """``loso.decision``: None for argmax (the paper), else the inner-validation threshold."""
    if check_decision(cfg) == "argmax":
        return None
    threshold = validation_threshold(trainer, module, datamodule, ckpt)
    log.info("decision threshold on the inner validation subjects %s: p_PNES > %.4f",
             datamodule.split["val"], threshold)
    return threshold
