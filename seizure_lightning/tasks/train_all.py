"""Task ``train_all``: a model for the next patient. The recipe of one model of a LOSO sweep
(``train_all.sweep``, ``train_all.model``) trained on every patient of its manifest, with the
number of epochs and the decision rule its folds took (``loso/all_patients.py`` says how).

Writes ``<sweep>/<model>/all_patients/``: ``model.ckpt`` (written atomically; its settings
section ``engine.inference.CKPT_KEY`` holds the inputs, the decision rule, the number of epochs
and where they came from), ``summary.json``, the ``config.yaml`` it trained with, and
``checkpoints/last.ckpt`` (an interrupted run resumes from it). ``+experiment=predict`` with
``predict.sweep`` and ``predict.model`` uses ``model.ckpt``. Re-running the same command skips a
finished model of the same config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seizure_lightning.engine.checkpoints import update_checkpoint
from seizure_lightning.engine.inference import CKPT_KEY
from seizure_lightning.engine.loggers import finish_loggers, setup_loggers
from seizure_lightning.evaluation.fold_record import Decision
from seizure_lightning.loso.all_patients import (
    ALL_PATIENTS_DIR,
    MODEL_FILE,
    AllPatientsPlan,
    all_patients_dir,
    make_plan,
    read_sweep,
    training_config,
)
from seizure_lightning.loso.fold import check_pretrained, fold_config_hash, train
from seizure_lightning.utils.io import atomic_write_json, atomic_write_text
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)

SUMMARY_FILE = "summary.json"


def train_all(cfg: DictConfig) -> dict[str, Any]:
    """Train ``train_all.model`` of the sweep ``train_all.sweep`` on every patient; its
    ``summary.json`` as a dict."""
    sweep, model = Path(str(cfg.train_all.sweep)).expanduser(), str(cfg.train_all.model)
    records, configs = read_sweep(sweep, model)
    plan = make_plan(model, records, configs)
    out = all_patients_dir(sweep, model)
    train_cfg = training_config(configs[plan.folds[0]], cfg, plan, sweep, out)
    check_pretrained(train_cfg.model)
    config_hash = fold_config_hash(train_cfg)
    log.info("model %s of %s on all patients: %d epochs (the median of the tested epochs %s of "
             "folds %s, in a %d-epoch schedule); decision %s (%s)", model, sweep, plan.epochs,
             list(plan.fold_epochs.values()), ", ".join(plan.folds), plan.schedule_epochs,
             _rule(plan.decision), plan.decision_source)
    if plan.unfinished:
        log.warning("the folds of %s have not finished: the epochs and the rule come from %d of "
                    "the sweep's %d folds", ", ".join(plan.unfinished), len(plan.folds),
                    len(plan.folds) + len(plan.unfinished))
    done = _finished(out, config_hash)
    if done is not None:
        log.info("%s exists for this config: skipped", out / MODEL_FILE)
        return done
    from lightning.pytorch import seed_everything

    seed_everything(int(train_cfg.seed), workers=True, verbose=False)  # the folds' seed
    loggers = setup_loggers(train_cfg, out)
    timings = {"fit": 0.0}
    try:
        fitted = train(train_cfg, out, config_hash, loggers, timings)
    finally:
        finish_loggers(loggers)
    last = out / "checkpoints" / "last.ckpt"
    if not last.is_file():  # no checkpoint callback (callbacks=none): the final weights now
        fitted.trainer.save_checkpoint(last, weights_only=False)
    summary = {
        "schema": 1, "kind": ALL_PATIENTS_DIR, "model": model, "checkpoint": MODEL_FILE,
        "subjects": fitted.datamodule.split["train"], "n_videos": len(fitted.datamodule.videos),
        "epochs_trained": int(fitted.trainer.current_epoch), **_source(plan, sweep),
        "config_hash": config_hash, "run_dir": str(Path(cfg.paths.output_dir).resolve()),
        "timings_s": {"fit": round(timings["fit"], 2)},
    }
    if global_rank() == 0:  # one writer under DDP
        atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(train_cfg, resolve=True))
        settings = {"decision": plan.decision.to_dict(), "trained_on": ALL_PATIENTS_DIR,
                    "epochs": plan.epochs, "source": _source(plan, sweep)}
        update_checkpoint(last, CKPT_KEY, settings, out=out / MODEL_FILE)
        atomic_write_json(out / SUMMARY_FILE, summary)  # last: the model is there
    log.info("all-patients model of %s: %s (%d subjects, %d videos, %d epochs, %s)", model,
             out / MODEL_FILE, len(summary["subjects"]), summary["n_videos"], plan.epochs,
             _rule(plan.decision))
    return summary


def _rule(decision: Decision) -> str:
    """``argmax``, or ``val_threshold: p_PNES > 0.4123``."""
    if decision.threshold is None:
        return decision.rule
    return f"{decision.rule}: p_PNES > {decision.threshold:.4f}"


def _source(plan: AllPatientsPlan, sweep: Path) -> dict[str, Any]:
    """Where the epochs and the rule came from (the checkpoint's ``source``, the summary)."""
    return {"sweep": str(sweep.resolve()), **plan.to_dict()}


def _finished(out: Path, config_hash: str) -> dict[str, Any] | None:
    """The summary of a finished model of the same config in ``out``, else None."""
    try:
        summary = json.loads((out / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    if summary.get("config_hash") != config_hash or not (out / MODEL_FILE).is_file():
        return None
    return summary
