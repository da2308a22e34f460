"""A fold's decision rule (``loso.decision``): the paper's argmax, or the p_PNES threshold that
balances the fold's inner validation subjects (``evaluation/decision.py`` ``choose_threshold``).
"""

from __future__ import annotations

import lightning.pytorch as pl

from seizure_lightning.engine.inference import predict_videos
from seizure_lightning.evaluation.decision import DECISIONS, choose_threshold
from seizure_lightning.evaluation.fold_record import Decision
from seizure_lightning.lightning_modules.classifier import ClassifierModule
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


def check_decision(rule: str) -> str:
    """``loso.decision`` if it is a known rule (checked before training, not after)."""
    if rule not in DECISIONS:
        raise ValueError(f"loso.decision must be one of {DECISIONS}, got {rule!r}")
    return rule


def validation_threshold(trainer: pl.Trainer, module: ClassifierModule, datamodule,
                         ckpt: str | None) -> float:
    """The p_PNES threshold that balances the inner validation subjects' videos (video
    probabilities by the same path as the test's)."""
    found = predict_videos(trainer, module, datamodule, "val", ckpt_path=ckpt)
    if found is None:
        raise ValueError("loso.decision=val_threshold needs inner validation subjects: "
                         "set data.split.val_fraction > 0")
    labels = (found.videos.label == "PNES").astype(int).tolist()
    if len(set(labels)) < 2:
        log.warning("loso.decision=val_threshold: the inner validation subjects %s have videos "
                    "of one class only; this fold keeps the argmax rule (threshold 0.5)",
                    datamodule.split["val"])
        return 0.5
    return choose_threshold(labels, found.videos.p_PNES.tolist())


def fold_decision(rule: str, trainer: pl.Trainer, module: ClassifierModule, datamodule,
                  ckpt: str | None) -> Decision:
    """The fold's rule ``loso.decision``: argmax (the paper; no threshold), or the
    inner-validation threshold."""
    if check_decision(rule) == "argmax":
        return Decision("argmax")
    threshold = validation_threshold(trainer, module, datamodule, ckpt)
    log.info("decision threshold on the inner validation subjects %s: p_PNES > %.4f",
             datamodule.split["val"], threshold)
    return Decision(rule, threshold)
