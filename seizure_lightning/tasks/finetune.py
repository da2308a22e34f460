"""Task ``finetune``: ES vs PNES fine-tuning on all subjects, or on one LOSO fold.

With ``data.test_subject=S`` the held-out subject's videos are classified after training
(window softmax averaged per video, the paper's rule) and written to ``predictions.csv``
(DESIGN.md contract) and ``windows.csv`` in the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.evaluation.aggregate import (
    predictions_frame,
    video_probabilities,
    windows_frame,
    write_csv,
)
from seizure_lightning.evaluation.folds import check_pretrain_overlap
from seizure_lightning.evaluation.threshold import DECISIONS, choose_threshold
from seizure_lightning.modules.classifier import ClassifierModule
from seizure_lightning.tasks.common import (
    build_callbacks,
    build_datamodule,
    build_trainer,
    optimizer_factory,
    resume_checkpoint,
    setup_loggers,
)
from seizure_lightning.tasks.predict import CKPT_KEY, data_settings
from seizure_lightning.tracking import finish_loggers
from seizure_lightning.utils.io import atomic_write_json
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)
CONFIG_HASH_KEY = "seizure_lightning_fold_config_hash"


class CheckpointMetadata(pl.Callback):
    """Adds fixed entries to every checkpoint: the frames/backbone/window settings (``predict``
    reads them) and, in a LOSO fold, the fold's config hash (only a checkpoint of the same
    config is resumed; a changed sweep re-trains its folds instead)."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self.entries = entries

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint.update(self.entries)


def checkpoint_config_hash(path: str | Path) -> str | None:
    """The config hash a checkpoint was written under (None: none recorded)."""
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return payload.get(CONFIG_HASH_KEY)


def fold_resume_checkpoint(cfg: DictConfig, run_dir: Path, config_hash: str | None) -> str | None:
    """``resume_checkpoint``, except that a checkpoint found in the run dir that was written
    under another config (``config_hash``) is not resumed: the fold trains from the start."""
    found = resume_checkpoint(cfg, run_dir)
    if found is None or config_hash is None or cfg.get("ckpt_path") not in (None, "last"):
        return found
    written_under = checkpoint_config_hash(found)
    if written_under != config_hash:
        log.warning("%s was written under another config (%s, now %s): not resuming from it, "
                    "training this fold from the start", found, written_under, config_hash)
        return None
    return found


class TrainingFoldClassWeights(pl.Callback):
    """Class weights = 1 / training windows per class (paper), set once the data is set up
    (after ``prepare_data`` ran on one process per node), so every rank uses the same."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        weights = trainer.datamodule.class_weights()
        pl_module.set_class_weights(weights)
        log.info("class weights (1 / training windows per class): %s", weights)


def build_module(cfg: DictConfig, class_weights: list[float] | None) -> ClassifierModule:
    """The classifier of ``cfg.model`` (transformer, optionally pre-trained, or a baseline)."""
    return ClassifierModule(
        kind=cfg.model.kind,
        encoder=OmegaConf.to_container(cfg.model.encoder, resolve=True),
        init_from=cfg.model.get("init_from"),
        pooling=cfg.model.pooling,
        dropout=float(cfg.model.dropout),
        class_weights=class_weights,
        optimizer=optimizer_factory(cfg),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        freeze_encoder=bool(cfg.model.get("freeze_encoder", False)),
    )


def pretrain_overlap(cfg: DictConfig, test_subject: str | None) -> bool | None:
    """Guard: refuse an encoder export that saw the test subject (unless allowed)."""
    init_from = cfg.model.get("init_from")
    if not init_from or test_subject is None:
        return None
    from seizure_lightning.modules.pretrain import load_encoder_export

    _, meta = load_encoder_export(init_from)
    return check_pretrain_overlap(
        meta.get("subjects_seen"), test_subject, bool(cfg.loso.allow_pretrain_overlap)
    )


def gather_windows(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every rank's test windows, concatenated (the rank's own under a single process).

    Under DDP each rank tests only its shard of the windows; the shards are gathered (a
    collective: every rank must call it) so each rank holds all the windows in rank order.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return out
    shards: list[dict[str, torch.Tensor] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(shards, {k: v.cpu() for k, v in out.items()})
    shards = [s for s in shards if s]
    if not shards:
        return {}
    return {k: torch.cat([s[k] for s in shards]) for k in shards[0]}


def unique_windows(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """All ranks' windows, each (video, start) once (DistributedSampler pads with repeats)."""
    out = gather_windows(out)
    keys = torch.stack([out["video_idx"], out["start"]], 1)
    _, first = unique_rows(keys)
    return {k: v[first] for k, v in out.items()}


def video_predictions(
    module: ClassifierModule, datamodule, fold: str | None, threshold: float | None = None
) -> tuple:
    """(predictions, windows) frames of the test windows the module collected (all ranks');
    ``threshold``: decide PNES where p_PNES > threshold (None: argmax, the paper's rule)."""
    out = unique_windows(module.test_window_predictions())
    per_video = video_probabilities(out["probs"], out["video_idx"])
    videos = datamodule.videos.iloc[sorted(per_video)]
    probs = torch.stack([torch.as_tensor(per_video[i]) for i in sorted(per_video)])
    preds = predictions_frame(
        videos.video_id, videos.subject_id, videos.label, probs, fold=fold, threshold=threshold
    )
    rows = datamodule.videos.iloc[out["video_idx"].numpy()]
    n_frames = (torch.as_tensor(rows.frames.to_numpy().copy()) - out["start"]).clamp(
        max=datamodule.window
    )
    windows = windows_frame(
        rows.video_id, rows.subject_id, rows.label, out["probs"], start_frame=out["start"],
        n_frames=n_frames, fps=float(datamodule.videos.fps.iloc[0]), window=datamodule.window,
        fold=fold,
    )
    return preds, windows


def validation_threshold(trainer: pl.Trainer, module: ClassifierModule, datamodule,
                         ckpt: str | None) -> float:
    """The p_PNES threshold that balances the inner validation subjects' videos (video
    probabilities by the paper's window averaging; see ``evaluation/threshold.py``)."""
    loader = datamodule.val_dataloader()
    if not loader:
        raise ValueError("loso.decision=val_threshold needs inner validation subjects: "
                         "set data.val_fraction > 0")
    batches = trainer.predict(module, dataloaders=loader, ckpt_path=ckpt, weights_only=True)
    keys = ("video_idx", "start", "probs", "label")
    out = unique_windows({k: torch.cat([b[k] for b in batches]) for k in keys})
    per_video = video_probabilities(out["probs"], out["video_idx"])
    label_of = dict(zip(out["video_idx"].tolist(), out["label"].tolist(), strict=True))
    videos = sorted(per_video)
    labels = [label_of[v] for v in videos]
    if len(set(labels)) < 2:
        log.warning("loso.decision=val_threshold: the inner validation subjects %s have videos "
                    "of one class only; this fold keeps the argmax rule (threshold 0.5)",
                    datamodule.split["val"])
        return 0.5
    return choose_threshold(labels, [per_video[v][1] for v in videos])


def unique_rows(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique rows of ``keys`` and the index of each one's first occurrence."""
    uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((len(uniq),), len(keys), dtype=torch.long)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys)), reduce="amin")
    return uniq, first.sort().values


def run_fold(cfg: DictConfig, run_dir: Path, config_hash: str | None = None) -> dict[str, Any]:
    """Train (and, with a test subject, test) one classifier; returns the fold's summary.

    ``config_hash`` (LOSO folds): recorded in the checkpoints; only a checkpoint of the same
    config is resumed."""
    check_decision(cfg)
    datamodule = build_datamodule(cfg)
    test_subject = datamodule.test_subject
    overlap = pretrain_overlap(cfg, test_subject)
    module = build_module(cfg, None)  # class weights: from the training fold, after data setup
    loggers = setup_loggers(cfg, run_dir)
    summary: dict[str, Any] = {"fold": test_subject, "pretrain_overlap": overlap}
    try:
        metadata = {CKPT_KEY: data_settings(cfg)}
        if config_hash is not None:
            metadata[CONFIG_HASH_KEY] = config_hash
        callbacks = [*build_callbacks(cfg), CheckpointMetadata(metadata),
                     TrainingFoldClassWeights()]
        trainer = build_trainer(cfg, run_dir, loggers, callbacks)
        ckpt_path = fold_resume_checkpoint(cfg, run_dir, config_hash)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        summary["class_weights"] = module.class_weight.tolist()
        summary["split"] = datamodule.split
        summary["best_ckpt"] = _best_checkpoint(trainer)
        if test_subject is not None:
            ckpt = summary["best_ckpt"] if cfg.loso.get("checkpoint") == "best" else None
            summary["tested_checkpoint"] = ckpt or "last (weights at the end of training)"
            threshold = decision_threshold(cfg, trainer, module, datamodule, ckpt)
            summary["decision"] = cfg.loso.get("decision", "argmax")
            summary["threshold"] = 0.5 if threshold is None else threshold
            trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
            preds, windows = video_predictions(module, datamodule, test_subject, threshold)
            if trainer.is_global_zero:
                write_csv(preds, run_dir / "predictions.csv")
                write_csv(windows, run_dir / "windows.csv")
                _log_table(loggers, preds)
            summary["n_videos"] = len(preds)
            summary["accuracy"] = float((preds.label == preds.pred).mean())
        summary["metrics"] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    finally:
        finish_loggers(loggers)
    return summary


def check_decision(cfg: DictConfig) -> str:
    """``loso.decision`` if it is a known rule (checked before training, not after)."""
    decision = cfg.loso.get("decision", "argmax")
    if decision not in DECISIONS:
        raise ValueError(f"loso.decision must be one of {DECISIONS}, got {decision!r}")
    return decision


def decision_threshold(cfg: DictConfig, trainer: pl.Trainer, module: ClassifierModule,
                       datamodule, ckpt: str | None) -> float | None:
    """``loso.decision``: None for argmax (the paper), else the inner-validation threshold."""
    if check_decision(cfg) == "argmax":
        return None
    threshold = validation_threshold(trainer, module, datamodule, ckpt)
    log.info("decision threshold on the inner validation subjects %s: p_PNES > %.4f",
             datamodule.split["val"], threshold)
    return threshold


def _best_checkpoint(trainer) -> str | None:
    cb = trainer.checkpoint_callback
    best = getattr(cb, "best_model_path", None) if cb is not None else None
    return best or None


def _log_table(loggers: list, preds) -> None:
    """The fold's video predictions as a wandb table (ids and probabilities only)."""
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            lg.log_table(key="test/video_predictions", dataframe=preds)


def finetune(cfg: DictConfig) -> float | None:
    """Fine-tune; with ``data.test_subject`` also predict the held-out subject."""
    run_dir = Path(cfg.paths.output_dir)
    summary = run_fold(cfg, run_dir)
    if global_rank() == 0:
        atomic_write_json(run_dir / "summary.json", summary)
    return summary.get("accuracy")
