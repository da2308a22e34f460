"""One leave-one-subject-out fold: train on the other subjects, choose the decision rule on the
inner validation subjects, classify the held-out subject's videos, record the outcome.

A fold is one job of the Hydra multirun (``-m +experiment=loso``). A failed fold is recorded
(``status.json``: failed + the error) and does not stop the sweep; re-running the same sweep
skips folds whose predictions exist for the same config key, and resumes a fold only from a
checkpoint written under that key.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.engine.checkpoints import (
    CheckpointMetadata,
    read_checkpoint_entry,
    resume_checkpoint,
    update_checkpoint,
)
from seizure_lightning.engine.inference import CKPT_KEY, predict_windows, video_predictions
from seizure_lightning.engine.loggers import finish_loggers, setup_loggers
from seizure_lightning.engine.run_key import config_hash
from seizure_lightning.engine.trainer import (
    build_callbacks,
    build_datamodule,
    build_module,
    build_trainer,
    is_multirun,
)
from seizure_lightning.evaluation.aggregate import predictions_frame, write_csv
from seizure_lightning.loso.decision import check_decision, decision_threshold
from seizure_lightning.loso.diagnose import SCORE_COLUMNS
from seizure_lightning.loso.select import (
    best_candidate,
    candidate_config,
    candidates,
    validation_score,
)
from seizure_lightning.loso.splits import check_pretrain_overlap, class_weights
from seizure_lightning.models.encoder_export import load_encoder_export
from seizure_lightning.modules.classifier import ClassifierModule
from seizure_lightning.utils.io import atomic_copy, atomic_write_json
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)

CONFIG_HASH_KEY = "seizure_lightning_fold_config_hash"


# ----------------------------------------------------------------------------- the fold's key
def fold_config_hash(cfg: DictConfig) -> str:
    """A hash of everything that defines the fold's result: the config (less where it runs and
    how it reports), the bytes of the encoder export and of the manifest it reads, and the
    code's version (package version and git SHA)."""
    return config_hash(
        cfg,
        {"encoder_export": cfg.model.get("init_from"), "manifest": cfg.data.get("manifest")},
        drop=("data.data_dir", "data.cache_dir",
              *(f"loso.{k}" for k in ("compare", "n_boot", "report", "name", "skip_finished"))),
    )


def finished(run_dir: Path, config_hash: str) -> bool:
    """True when this fold already has predictions made with the same config."""
    status_path = run_dir / "status.json"
    if not (status_path.is_file() and (run_dir / "predictions.csv").is_file()):
        return False
    try:
        status = json.loads(status_path.read_text())
    except ValueError:
        return False
    return status.get("status") == "ok" and status.get("config_hash") == config_hash


def fold_resume_checkpoint(cfg: DictConfig, run_dir: Path, config_hash: str | None) -> str | None:
    """``resume_checkpoint``, except that a checkpoint found in the run dir that was written
    under another config (``config_hash``) is not resumed: the fold trains from the start."""
    found = resume_checkpoint(cfg, run_dir)
    if found is None or config_hash is None or cfg.get("ckpt_path") not in (None, "last"):
        return found
    written_under = read_checkpoint_entry(found, CONFIG_HASH_KEY)
    if written_under != config_hash:
        log.warning("%s was written under another config (%s, now %s): not resuming from it, "
                    "training this fold from the start", found, written_under, config_hash)
        return None
    return found


# ----------------------------------------------------------------------------- training
class TrainingFoldClassWeights(pl.Callback):
    """Class weights = 1 / training windows per class (paper), set once the data is set up
    (after ``prepare_data`` ran on one process per node), so every rank uses the same."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        weights = class_weights(trainer.datamodule.train_windows().label.to_numpy())
        pl_module.set_class_weights(weights)
        log.info("class weights (1 / training windows per class): %s", weights)


def input_settings(cfg: DictConfig) -> dict[str, Any]:
    """What a classifier checkpoint records about its inputs (``predict`` builds its data from
    them): frames, backbone, window and test stride."""
    return {
        "frames": OmegaConf.to_container(cfg.frames, resolve=True),
        "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
        "window": int(cfg.data.window),
        "stride": int(cfg.data.test_stride),
        "subject_norm": bool(cfg.data.get("subject_norm", False)),
    }


def pretrain_overlap(cfg: DictConfig, test_subject: str | None) -> bool | str | None:
    """Guard: refuse an encoder export that saw the test subject (unless allowed). True / False,
    "unknown" (no overlap found, but some contextual clips had no subject id), None (no
    pre-training)."""
    init_from = cfg.model.get("init_from")
    if not init_from or test_subject is None:
        return None
    _, meta = load_encoder_export(init_from)
    overlap = check_pretrain_overlap(
        meta.get("subjects_seen"), test_subject, bool(cfg.loso.allow_pretrain_overlap)
    )
    return "unknown" if not overlap and meta.get("subjects_unknown") else overlap


def train(cfg: DictConfig, run_dir: Path, config_hash: str | None,
          loggers: list, timings: dict[str, float] | None = None,
          ) -> tuple[pl.Trainer, ClassifierModule, Any]:
    """Fit the classifier of ``cfg`` on the fold's training subjects; its checkpoints go to
    ``run_dir/checkpoints`` (``config_hash``: recorded there, and only a checkpoint of the same
    config is resumed). ``timings["fit"]`` accumulates the seconds spent in ``trainer.fit``."""
    datamodule = build_datamodule(cfg)
    module = build_module(cfg.model, cfg)  # class weights: from the training fold, after setup
    metadata = {CKPT_KEY: input_settings(cfg)}
    if config_hash is not None:
        metadata[CONFIG_HASH_KEY] = config_hash
    callbacks = [*build_callbacks(cfg), CheckpointMetadata(metadata), TrainingFoldClassWeights()]
    trainer = build_trainer(cfg, run_dir, loggers, callbacks)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=datamodule,
                ckpt_path=fold_resume_checkpoint(cfg, run_dir, config_hash),
                weights_only=True)  # a checkpoint is data: never unpickle code from it
    if timings is not None:
        timings["fit"] = timings.get("fit", 0.0) + time.perf_counter() - t0
    return trainer, module, datamodule


def select(cfg: DictConfig, run_dir: Path, grid: list[dict[str, Any]],
           timings: dict[str, float] | None = None) -> tuple:
    """Nested selection: train every candidate of ``loso.select.grid`` in ``run_dir/select/NN``
    and score it on the inner validation subjects; ``(trainer, module, datamodule, record)``
    of the best one."""
    metric = str(cfg.loso.select.get("metric", "auroc"))
    record: dict[str, Any] = {"metric": metric, "candidates": []}
    fitted = []
    for i, values in enumerate(grid):
        folder = run_dir / "select" / f"{i:02d}"
        candidate = candidate_config(cfg, values, str(folder))
        trainer, module, datamodule = train(candidate, folder, fold_config_hash(candidate), [],
                                            timings)
        loader = datamodule.val_dataloader()
        if not loader:
            raise ValueError("loso.select needs inner validation subjects: set "
                             "data.split.val_fraction > 0")
        # read before predicting: trainer.predict resets the trainer's callback metrics
        loss = trainer.callback_metrics.get("val/loss")
        windows = predict_windows(trainer, module, loader)
        videos, _ = video_predictions(windows, datamodule.videos, datamodule.window)
        score = validation_score(videos, metric, None if loss is None else float(loss))
        record["candidates"].append({"values": values, "score": score,
                                     "val_loss": None if loss is None else float(loss),
                                     "dir": str(folder)})
        log.info("fold %s, candidate %d %s: validation %s %.4f", datamodule.test_subject, i,
                 values, metric, score)
        fitted.append((trainer, module, datamodule))
    chosen = best_candidate([c["score"] for c in record["candidates"]],
                            [c["val_loss"] for c in record["candidates"]])
    record["chosen"] = record["candidates"][chosen]["values"]
    log.info("fold %s: chose %s on the inner validation subjects %s",
             fitted[chosen][2].test_subject, record["chosen"], fitted[chosen][2].split["val"])
    return (*fitted[chosen], record)


def check_pretrained(cfg: DictConfig) -> None:
    """A Transformer classifier without an encoder export trains from random weights: refused
    (before any work) unless the model says so (``model.from_scratch: true``, the ``*_scratch``
    models), so a report named after a pre-trained model always had one."""
    target = str(cfg.model.get("encoder", {}).get("_target_", ""))
    if target.rsplit(".", 1)[-1] != "SequenceEncoder" or cfg.model.get("init_from"):
        return
    if not cfg.model.get("from_scratch", False):
        name = cfg.model.get("name")
        raise ValueError(
            f"model={name} is a pre-trained Transformer but no encoder export was given: set "
            "pretrained=<run>/encoder.pt (or model.init_from=...), use the from-scratch "
            f"ablation (model={name}_scratch where it exists), or set model.from_scratch=true")


def run_fold(cfg: DictConfig, run_dir: Path, config_hash: str | None = None) -> dict[str, Any]:
    """Train (with ``loso.select.grid``: select on the inner validation subjects) and, with
    ``data.test_subject``, test one classifier; the fold's summary."""
    check_decision(cfg)
    check_pretrained(cfg)
    grid = candidates(cfg.loso.get("select", {}).get("grid"))
    test_subject = cfg.data.get("test_subject") or None
    overlap = pretrain_overlap(cfg, test_subject)
    loggers = setup_loggers(cfg, run_dir)
    summary: dict[str, Any] = {"fold": test_subject, "model": cfg.model.get("name"),
                               "pretrain_overlap": overlap}
    t_start, timings = time.perf_counter(), {"fit": 0.0}
    try:
        if grid:
            trainer, module, datamodule, summary["selection"] = select(cfg, run_dir, grid, timings)
            chosen = next(c for c in summary["selection"]["candidates"]
                          if c["values"] == summary["selection"]["chosen"])
            ckpt_dir = Path(chosen["dir"]) / "checkpoints"
            if loggers:
                log_selection(loggers, summary["selection"])
        else:
            trainer, module, datamodule = train(cfg, run_dir, config_hash, loggers, timings)
            ckpt_dir = run_dir / "checkpoints"
        summary["class_weights"] = module.class_weight.tolist()
        summary["split"] = datamodule.split
        summary["best_ckpt"] = _best_checkpoint(trainer)
        t_trained = time.perf_counter()
        if datamodule.test_subject is not None:
            summary.update(test_fold(cfg, trainer, module, datamodule, run_dir, loggers,
                                     summary["best_ckpt"], ckpt_dir))
        summary["metrics"] = {k: float(v) for k, v in trainer.callback_metrics.items()}
        # wall seconds: trainer.fit of every candidate; the set-up around it (data, model,
        # trainer, candidate scoring); testing and writing the fold's files
        summary["timings_s"] = {"fit": round(timings["fit"], 2),
                                "setup": round(t_trained - t_start - timings["fit"], 2),
                                "test": round(time.perf_counter() - t_trained, 2)}
    finally:
        finish_loggers(loggers)
    return summary


def log_selection(loggers: list, record: dict[str, Any]) -> None:
    """The fold's selection scores (one value per candidate) and its choice, to every logger."""
    metrics = {f"select/candidate{i:02d}/{record['metric']}": c["score"]
               for i, c in enumerate(record["candidates"])}
    for lg in loggers:
        lg.log_metrics(metrics)


def test_fold(cfg: DictConfig, trainer: pl.Trainer, module: ClassifierModule, datamodule,
              run_dir: Path, loggers: list, best_ckpt: str | None,
              ckpt_dir: Path) -> dict[str, Any]:
    """Decision rule, then the held-out subject's predictions (``predictions.csv``,
    ``windows.csv``); the tested checkpoint (``last`` or ``best`` in ``ckpt_dir``) is stamped
    with the rule so ``predict`` uses it, and is the fold's ``checkpoints/last.ckpt``."""
    ckpt = best_ckpt if cfg.loso.get("checkpoint") == "best" else None
    threshold = decision_threshold(cfg, trainer, module, datamodule, ckpt)
    windows = predict_windows(trainer, module, datamodule=datamodule, ckpt_path=ckpt, test=True)
    videos, per_window = video_predictions(windows, datamodule.videos, datamodule.window,
                                           threshold)
    preds = predictions_frame(videos.video_id, videos.subject_id, videos.label,
                              videos[["p_ES", "p_PNES"]].to_numpy(), fold=datamodule.test_subject,
                              threshold=threshold)
    scores = fold_scores(trainer, module, datamodule, ckpt, videos)
    decision = {"rule": cfg.loso.get("decision", "argmax"), "threshold": threshold}
    tested = Path(ckpt) if ckpt else ckpt_dir / "last.ckpt"
    if trainer.is_global_zero:
        write_csv(preds, run_dir / "predictions.csv")
        write_csv(per_window, run_dir / "windows.csv")
        write_csv(scores, run_dir / "fold_scores.csv")
        _log_table(loggers, preds)
        if tested.is_file():
            update_checkpoint(tested, CKPT_KEY, {"decision": decision})
            if tested.parent != run_dir / "checkpoints":  # the selected candidate's
                atomic_copy(tested, run_dir / "checkpoints" / "last.ckpt")
        else:
            log.warning("no checkpoint at %s: the fold's decision rule is not stored for "
                        "predict", tested)
    return {
        "tested_checkpoint": str(tested) if ckpt else "last (weights at the end of training)",
        "decision": decision["rule"],
        "threshold": 0.5 if threshold is None else threshold,
        "n_videos": len(preds),
        "accuracy": float((preds.label == preds.pred).mean()),
    }


def fold_scores(trainer: pl.Trainer, module: ClassifierModule, datamodule, ckpt: str | None,
                test_videos) -> pd.DataFrame:
    """Video p_PNES of the training, inner validation and held-out subjects, by the same
    inference path (``loso/diagnose.py`` reads them: does a new patient score like the
    training patients of its class?)."""
    tables = [test_videos.assign(part="test")]
    for part in ("train", "val"):
        loader = datamodule.part_dataloader(part)
        if loader:
            windows = predict_windows(trainer, module, loader, ckpt_path=ckpt)
            tables.append(video_predictions(windows, datamodule.videos, datamodule.window)[0]
                          .assign(part=part))
    frame = pd.concat(tables, ignore_index=True).assign(fold=datamodule.test_subject)
    return frame[list(SCORE_COLUMNS)]


def _best_checkpoint(trainer: pl.Trainer) -> str | None:
    cb = trainer.checkpoint_callback
    best = getattr(cb, "best_model_path", None) if cb is not None else None
    return best or None


def _log_table(loggers: list, preds) -> None:
    """The fold's video predictions as a wandb table (ids and probabilities only)."""
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            lg.log_table(key="test/video_predictions", dataframe=preds)


# ----------------------------------------------------------------------------- the sweep's job
def loso_fold(cfg: DictConfig) -> float | None:
    """Task ``loso``: the fold ``data.test_subject``; inside a sweep it never raises (the sweep
    goes on) and records the outcome in ``status.json``."""
    run_dir = Path(cfg.paths.output_dir)
    subject = cfg.data.get("test_subject")
    if subject in (None, ""):
        raise ValueError(
            "a LOSO fold needs data.test_subject. Run the sweep with "
            "`python -m seizure_lightning -m +experiment=loso` (one fold per subject)."
        )
    config_hash = fold_config_hash(cfg)
    if cfg.loso.get("skip_finished", True) and finished(run_dir, config_hash):
        log.info("fold %s: predictions exist for this config, skipped", subject)
        return json.loads((run_dir / "status.json").read_text()).get("accuracy")
    status = {"status": "running", "fold": str(subject), "config_hash": config_hash}
    write = global_rank() == 0  # one writer of the fold's files under DDP
    if write:
        atomic_write_json(run_dir / "status.json", status)
    try:
        summary = run_fold(cfg, run_dir, config_hash)
    except Exception as exc:  # a failed fold must not kill the sweep
        log.error("fold %s (%s) failed: %s", subject, cfg.model.get("name"), exc)
        status.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
        if write:
            atomic_write_json(run_dir / "status.json", status)
        if not is_multirun():  # a single fold run by hand: fail loudly
            raise
        return None
    status.update(status="ok", **{k: summary.get(k) for k in
                                  ("accuracy", "n_videos", "pretrain_overlap", "class_weights")})
    if write:
        atomic_write_json(run_dir / "status.json", status)
        atomic_write_json(run_dir / "summary.json", summary)
    timings = summary.get("timings_s") or {}
    log.info("fold %s (%s): accuracy %.3f on %d videos (fit %.1f s, set-up %.1f s, test %.1f s)",
             subject, summary["model"], summary["accuracy"], summary["n_videos"],
             *(timings.get(k, float("nan")) for k in ("fit", "setup", "test")))
    return summary.get("accuracy")
