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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import lightning.pytorch as pl
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.engine.checkpoints import (
    CheckpointMetadata,
    read_checkpoint_entry,
    resume_checkpoint,
    update_checkpoint,
)
from seizure_lightning.engine.inference import CKPT_KEY, predict_videos
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
from seizure_lightning.evaluation.fold_record import (
    Candidate,
    Decision,
    FoldRecord,
    Selection,
    Timings,
    record_path,
)
from seizure_lightning.lightning_modules.classifier import ClassifierModule
from seizure_lightning.loso.diagnose import SCORE_COLUMNS
from seizure_lightning.loso.select import (
    best_candidate,
    candidate_config,
    candidates,
    validation_score,
)
from seizure_lightning.loso.splits import check_pretrain_overlap, class_weights
from seizure_lightning.loso.threshold import check_decision, fold_decision
from seizure_lightning.models.encoder_export import load_encoder_export
from seizure_lightning.utils.io import atomic_copy, atomic_write_json
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)

CONFIG_HASH_KEY = "seizure_lightning_fold_config_hash"


@dataclass(frozen=True)
class FoldSettings:
    """What a fold reads of ``cfg.loso`` (conf/loso/default.yaml), checked before training."""

    decision: str = "argmax"
    checkpoint: str = "last"
    grid: tuple[dict[str, Any], ...] = ()
    select_metric: str = "auroc"
    allow_pretrain_overlap: bool = False

    @classmethod
    def from_config(cls, loso: DictConfig) -> FoldSettings:
        select = loso.get("select") or {}
        return cls(decision=check_decision(str(loso.get("decision", "argmax"))),
                   checkpoint=str(loso.get("checkpoint", "last")),
                   grid=tuple(candidates(select.get("grid"))),
                   select_metric=str(select.get("metric", "auroc")),
                   allow_pretrain_overlap=bool(loso.get("allow_pretrain_overlap", False)))


class Fitted(NamedTuple):
    """A trained classifier with its Trainer and DataModule."""

    trainer: pl.Trainer
    module: ClassifierModule
    datamodule: Any


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
    """True when this fold already has predictions and its record, made with the same
    config."""
    status_path = run_dir / "status.json"
    if not all(p.is_file() for p in (status_path, run_dir / "predictions.csv",
                                     record_path(run_dir))):
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


def pretrain_overlap(init_from: str | None, test_subject: str | None,
                     allow: bool) -> bool | str | None:
    """Guard: refuse an encoder export that saw the test subject (unless ``allow``). True /
    False, "unknown" (no overlap found, but some contextual clips had no subject id), None (no
    pre-training)."""
    if not init_from or test_subject is None:
        return None
    _, meta = load_encoder_export(init_from)
    overlap = check_pretrain_overlap(meta.get("subjects_seen"), test_subject, allow)
    return "unknown" if not overlap and meta.get("subjects_unknown") else overlap


def train(cfg: DictConfig, run_dir: Path, config_hash: str | None,
          loggers: list, timings: dict[str, float] | None = None) -> Fitted:
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
    return Fitted(trainer, module, datamodule)


def select(cfg: DictConfig, run_dir: Path, settings: FoldSettings,
           timings: dict[str, float] | None = None) -> tuple[Fitted, Selection]:
    """Nested selection: train every candidate of ``settings.grid`` in ``run_dir/select/NN``
    and score it on the inner validation subjects; the best one, fitted, and the record of the
    selection."""
    scored, fitted = [], []
    for i, values in enumerate(settings.grid):
        folder = run_dir / "select" / f"{i:02d}"
        candidate = candidate_config(cfg, values, str(folder))
        run = train(candidate, folder, fold_config_hash(candidate), [], timings)
        # read before predicting: trainer.predict resets the trainer's callback metrics
        loss = run.trainer.callback_metrics.get("val/loss")
        val_loss = None if loss is None else float(loss)
        found = predict_videos(run.trainer, run.module, run.datamodule, "val")
        if found is None:
            raise ValueError("loso.select needs inner validation subjects: set "
                             "data.split.val_fraction > 0")
        score = validation_score(found.videos, settings.select_metric, val_loss)
        scored.append(Candidate(values, score, val_loss, str(folder)))
        log.info("fold %s, candidate %d %s: validation %s %.4f", run.datamodule.test_subject, i,
                 values, settings.select_metric, score)
        fitted.append(run)
    chosen = best_candidate([c.score for c in scored], [c.val_loss for c in scored])
    best, selection = fitted[chosen], Selection(settings.select_metric, scored,
                                                scored[chosen].values)
    log.info("fold %s: chose %s on the inner validation subjects %s",
             best.datamodule.test_subject, selection.chosen, best.datamodule.split["val"])
    return best, selection


def check_pretrained(model: DictConfig) -> None:
    """A Transformer classifier (the ``model`` node) without an encoder export trains from random
    weights: refused (before any work) unless the model says so (``model.from_scratch: true``,
    the ``*_scratch`` models), so a report named after a pre-trained model always had one."""
    target = str(model.get("encoder", {}).get("_target_", ""))
    if target.rsplit(".", 1)[-1] != "SequenceEncoder" or model.get("init_from"):
        return
    if not model.get("from_scratch", False):
        name = model.get("name")
        raise ValueError(
            f"model={name} is a pre-trained Transformer but no encoder export was given: set "
            "pretrained=<run>/encoder.pt (or model.init_from=...), use the from-scratch "
            f"ablation (model={name}_scratch where it exists), or set model.from_scratch=true")


def run_fold(cfg: DictConfig, run_dir: Path, config_hash: str | None = None) -> FoldRecord:
    """Train (with ``loso.select.grid``: select on the inner validation subjects) and, with
    ``data.test_subject``, test one classifier; the fold's record, written to ``run_dir``."""
    settings = FoldSettings.from_config(cfg.loso)
    check_pretrained(cfg.model)
    test_subject = cfg.data.get("test_subject") or None
    overlap = pretrain_overlap(cfg.model.get("init_from"), test_subject,
                               settings.allow_pretrain_overlap)
    loggers = setup_loggers(cfg, run_dir)
    t_start, timings = time.perf_counter(), {"fit": 0.0}
    try:
        selection = None
        if settings.grid:
            fitted, selection = select(cfg, run_dir, settings, timings)
            ckpt_dir = Path(selection.chosen_candidate.dir) / "checkpoints"
            log_selection(loggers, selection)
        else:
            fitted = train(cfg, run_dir, config_hash, loggers, timings)
            ckpt_dir = run_dir / "checkpoints"
        best_ckpt = _best_checkpoint(fitted.trainer)
        t_trained = time.perf_counter()
        held_out = HeldOut()
        if fitted.datamodule.test_subject is not None:
            held_out = test_fold(settings, fitted, run_dir, loggers, best_ckpt, ckpt_dir)
        record = FoldRecord(
            fold=test_subject, model=cfg.model.get("name"), pretrain_overlap=overlap,
            class_weights=fitted.module.class_weight.tolist(), split=fitted.datamodule.split,
            best_ckpt=best_ckpt, selection=selection, **held_out._asdict(),
            metrics={k: float(v) for k, v in fitted.trainer.callback_metrics.items()},
            timings_s=Timings(fit=round(timings["fit"], 2),
                              setup=round(t_trained - t_start - timings["fit"], 2),
                              test=round(time.perf_counter() - t_trained, 2)))
    finally:
        finish_loggers(loggers)
    if global_rank() == 0:  # one writer of the fold's files under DDP
        record.to_json(record_path(run_dir))
    return record


def log_selection(loggers: list, selection: Selection) -> None:
    """The fold's selection scores (one value per candidate), to every logger."""
    metrics = {f"select/candidate{i:02d}/{selection.metric}": c.score
               for i, c in enumerate(selection.candidates)}
    for lg in loggers:
        lg.log_metrics(metrics)


class HeldOut(NamedTuple):
    """What testing the held-out subject adds to the fold's record."""

    tested_checkpoint: str | None = None
    decision: Decision = Decision()
    n_videos: int = 0
    accuracy: float | None = None


def test_fold(settings: FoldSettings, fitted: Fitted, run_dir: Path, loggers: list,
              best_ckpt: str | None, ckpt_dir: Path) -> HeldOut:
    """Decision rule, then the held-out subject's predictions (``predictions.csv``,
    ``windows.csv``, ``fold_scores.csv``); the tested checkpoint (``last`` or ``best`` in
    ``ckpt_dir``) is stamped with the rule so ``predict`` uses it, and is the fold's
    ``checkpoints/last.ckpt``."""
    trainer, module, datamodule = fitted
    ckpt = best_ckpt if settings.checkpoint == "best" else None
    decision = fold_decision(settings.decision, trainer, module, datamodule, ckpt)
    found = predict_videos(trainer, module, datamodule, "test", ckpt_path=ckpt,
                           threshold=decision.threshold)
    videos = found.videos
    preds = predictions_frame(videos.video_id, videos.subject_id, videos.label,
                              videos[["p_ES", "p_PNES"]].to_numpy(), fold=datamodule.test_subject,
                              threshold=decision.threshold)
    scores = fold_scores(fitted, ckpt, videos)
    tested = Path(ckpt) if ckpt else ckpt_dir / "last.ckpt"
    if trainer.is_global_zero:
        write_csv(preds, run_dir / "predictions.csv")
        write_csv(found.windows, run_dir / "windows.csv")
        write_csv(scores, run_dir / "fold_scores.csv")
        _log_table(loggers, preds)
        if tested.is_file():
            update_checkpoint(tested, CKPT_KEY, {"decision": decision.to_dict()})
            if tested.parent != run_dir / "checkpoints":  # the selected candidate's
                atomic_copy(tested, run_dir / "checkpoints" / "last.ckpt")
        else:
            log.warning("no checkpoint at %s: the fold's decision rule is not stored for "
                        "predict", tested)
    return HeldOut(tested_checkpoint=str(tested) if ckpt else None, decision=decision,
                   n_videos=len(preds), accuracy=float((preds.label == preds.pred).mean()))


def fold_scores(fitted: Fitted, ckpt: str | None, test_videos: pd.DataFrame) -> pd.DataFrame:
    """Video p_PNES of the training, inner validation and held-out subjects, by the same
    inference path (``loso/diagnose.py`` reads them: does a new patient score like the
    training patients of its class?)."""
    tables = [test_videos.assign(part="test")]
    for part in ("train", "val"):
        found = predict_videos(*fitted, part, ckpt_path=ckpt)
        if found is not None:
            tables.append(found.videos.assign(part=part))
    frame = pd.concat(tables, ignore_index=True).assign(fold=fitted.datamodule.test_subject)
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
        return FoldRecord.read(record_path(run_dir)).accuracy
    status = {"status": "running", "fold": str(subject), "config_hash": config_hash}
    write = global_rank() == 0  # one writer of the fold's files under DDP
    if write:
        atomic_write_json(run_dir / "status.json", status)
    try:
        record = run_fold(cfg, run_dir, config_hash)
    except Exception as exc:  # a failed fold must not kill the sweep
        log.error("fold %s (%s) failed: %s", subject, cfg.model.get("name"), exc)
        status.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
        if write:
            atomic_write_json(run_dir / "status.json", status)
        if not is_multirun():  # a single fold run by hand: fail loudly
            raise
        return None
    if write:  # after the record: "ok" means the fold's files are all there
        atomic_write_json(run_dir / "status.json", {**status, "status": "ok"})
    timings = record.timings_s
    log.info("fold %s (%s): accuracy %.3f on %d videos (fit %.1f s, set-up %.1f s, test %.1f s)",
             subject, record.model, record.accuracy, record.n_videos,
             timings.fit, timings.setup, timings.test)
    return record.accuracy
