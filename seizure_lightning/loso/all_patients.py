"""A model for the next patient: the recipe one model of a LOSO sweep validated, trained on every
patient of the sweep's manifest.

The sweep's finished folds say how to train it, so nobody re-types the recipe:

- **the recipe**: each fold's saved config (``fold=<subject>/.hydra/config.yaml``): model,
  data, backbone, frames, optimiser, schedule, seed. The folds must agree on it, less which
  subject they held out and where they ran (:data:`NOT_RECIPE`); with nested selection
  (``loso.select.grid``) they must have chosen the same candidate, which is applied.
- **the number of epochs**: each fold's tested epoch, counted from 1 (the weights after that many
  full passes over the training windows: ``epoch024-step….ckpt`` is epoch 25,
  ``FoldRecord.tested_epoch``); a fold that tested its last weights (``loso.checkpoint=last``)
  tested epoch ``trainer.max_epochs``. The model trains for the median over the folds, rounded to
  the nearest whole epoch (.5 up), within a learning-rate schedule as long as the folds'
  (``trainer.max_epochs``), so its weights are those of the epoch the folds tested.
- **the decision rule**: ``argmax`` when the folds used argmax; with ``val_threshold``, the
  median of the folds' inner-validation thresholds (the rule stays ``val_threshold``).

Pure functions of the fold records and configs (:func:`read_sweep` reads them);
``tasks/train_all.py`` trains the model and writes ``<sweep>/<model>/all_patients/``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from seizure_lightning.engine.run_key import VOLATILE, without
from seizure_lightning.evaluation.fold_record import Decision, FoldRecord, read_fold_records
from seizure_lightning.loso.select import candidate_config, scaled
from seizure_lightning.utils.naming import natural_key, natural_sorted

#: the folder of a sweep's model that holds its all-patients model, and the model's file
ALL_PATIENTS_DIR = "all_patients"
MODEL_FILE = "model.ckpt"
#: where Hydra keeps a fold's composed config
FOLD_CONFIG = ".hydra/config.yaml"
#: keys of a fold's config in which the folds of one recipe may differ: the held-out subject,
#: where a fold ran and how the sweep reported (besides ``engine.run_key.VOLATILE``)
NOT_RECIPE = ("data.test_subject", "data.data_dir", "data.cache_dir", "data.num_workers",
              "data.pin_memory", "data.persistent_workers", "threads", "cpu_isa",
              *(f"trainer.{k}" for k in ("accelerator", "devices", "num_nodes", "strategy",
                                         "precision", "sync_batchnorm", "default_root_dir",
                                         "benchmark")),
              *(f"loso.{k}" for k in ("compare", "n_boot", "report", "skip_finished")))
#: trainer keys the all-patients run takes from its own config (where it trains); the rest of
#: the trainer (gradient clipping, accumulation, the schedule's length) is the folds'
RUN_TRAINER_KEYS = ("accelerator", "devices", "num_nodes", "strategy", "precision",
                    "sync_batchnorm", "benchmark", "enable_progress_bar", "enable_model_summary",
                    "log_every_n_steps")
#: top-level keys the all-patients run takes from its own config
RUN_KEYS = ("paths", "logger", "callbacks", "print_config", "ckpt_path", "resume_siblings",
            "threads", "cpu_isa", "tags")


#: how the number of epochs is taken from the folds, in words (the checkpoint and summary say it)
EPOCH_RULE = ("the median of the folds' tested epochs (counted from 1), rounded to the nearest "
              "whole epoch (.5 up), in a learning-rate schedule of the folds' max_epochs")


class SweepError(ValueError):
    """A sweep that cannot give an all-patients model: none of its folds finished, its folds
    disagree on the recipe, or a fold's config is missing."""


def all_patients_dir(sweep: str | Path, model: str) -> Path:
    """``<sweep>/<model>/all_patients``."""
    return Path(sweep).expanduser() / str(model) / ALL_PATIENTS_DIR


def train_all_command(sweep: str | Path, model: str) -> str:
    """The command that trains the all-patients model of a sweep's model."""
    return (f"python -m seizure_lightning +experiment=train_all train_all.sweep={sweep} "
            f"train_all.model={model}")


@dataclass(frozen=True)
class AllPatientsPlan:
    """How the all-patients model trains and decides, and the folds it took that from."""

    model: str
    folds: list[str]
    #: each fold's tested epoch, counted from 1
    fold_epochs: dict[str, int]
    #: the median of ``fold_epochs``, rounded to the nearest whole epoch (.5 up)
    epochs: int
    #: the folds' ``trainer.max_epochs``: the length of the learning-rate schedule
    schedule_epochs: int
    decision: Decision
    #: how the rule was taken from the folds, in words
    decision_source: str
    fold_thresholds: dict[str, float | None] = field(default_factory=dict)
    #: the candidate of ``loso.select.grid`` every fold chose ({} without nested selection)
    chosen: dict[str, Any] = field(default_factory=dict)
    #: subjects of the sweep whose fold has not finished (their patients still train)
    unfinished: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values, with :data:`EPOCH_RULE`."""
        out = asdict(self)
        out["decision"] = self.decision.to_dict()
        return {**out, "epoch_rule": EPOCH_RULE}


def median_epoch(epochs: Sequence[int]) -> int:
    """The median of the folds' tested epochs, rounded to the nearest whole epoch (.5 up)."""
    if not epochs:
        raise SweepError("no tested epoch to take the median of")
    return max(1, math.floor(statistics.median(epochs) + 0.5))


def fold_epoch(record: FoldRecord, max_epochs: int) -> int:
    """The epoch a fold tested, counted from 1: that of its tested checkpoint, or ``max_epochs``
    when it tested the weights at the end of training."""
    return record.tested_epoch or int(max_epochs)


def sweep_decision(records: Sequence[FoldRecord]) -> tuple[Decision, str]:
    """The all-patients model's rule and how it was taken from the folds: argmax as every fold,
    or the median of the folds' inner-validation thresholds."""
    rules = {r.decision.rule for r in records}
    if len(rules) != 1:
        raise SweepError("the folds used different decision rules: " + ", ".join(
            f"fold {r.fold}: {r.decision.rule}" for r in records))
    rule = rules.pop()
    if rule == "argmax":
        return Decision("argmax"), "argmax, as every fold"
    thresholds = [r.decision.line for r in records]
    return (Decision(rule, float(statistics.median(thresholds))),
            f"{rule}: the median of the {len(thresholds)} folds' inner-validation thresholds")


def recipe_differences(configs: Mapping[str, DictConfig | dict]) -> list[str]:
    """The dotted keys on which the folds' configs (``{fold: config}``) differ, less
    :data:`NOT_RECIPE` and where runs write and log (``engine.run_key.VOLATILE``)."""
    flat = {fold: _flatten(without(OmegaConf.to_container(OmegaConf.create(cfg), resolve=False),
                                   (*VOLATILE, *NOT_RECIPE)))
            for fold, cfg in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    missing = object()
    return [k for k in keys if len({repr(f.get(k, missing)) for f in flat.values()}) > 1]


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    if not isinstance(node, dict) or not node:
        return {prefix.rstrip("."): node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_flatten(value, f"{prefix}{key}."))
    return out


def make_plan(model: str, records: Sequence[FoldRecord],
              configs: Mapping[str, DictConfig]) -> AllPatientsPlan:
    """The all-patients plan of a sweep's model from its finished folds' records and saved
    configs (``{fold: config}``); :class:`SweepError` when they give no single recipe."""
    if not records:
        raise SweepError(f"model {model}: no finished fold")
    others = sorted({str(r.model) for r in records if r.model != model})
    if others:
        raise SweepError(f"the fold records of model {model} name model(s) {', '.join(others)}")
    differ = recipe_differences({r.fold: configs[r.fold] for r in records})
    if differ:
        raise SweepError(
            f"the folds of model {model} were trained with different configs ({', '.join(differ)}"
            "): no single recipe to train on all patients. Re-run the sweep with one config "
            "(finished folds of that config are skipped).")
    chosen = _one_choice(records)
    schedule = int(configs[records[0].fold].trainer.max_epochs)
    if "trainer.max_epochs" in chosen:  # an epochs grid: the chosen candidate's
        schedule = int(scaled("trainer.max_epochs", chosen["trainer.max_epochs"], schedule))
    fold_epochs = {r.fold: fold_epoch(r, schedule) for r in records}
    if max(fold_epochs.values()) > schedule:
        raise SweepError(f"model {model}: a tested epoch ({fold_epochs}) is past the folds' "
                         f"trainer.max_epochs={schedule}")
    decision, source = sweep_decision(records)
    return AllPatientsPlan(
        model=model, folds=[r.fold for r in records], fold_epochs=fold_epochs,
        epochs=median_epoch(list(fold_epochs.values())), schedule_epochs=schedule,
        decision=decision, decision_source=source,
        fold_thresholds={r.fold: r.decision.threshold for r in records}, chosen=chosen,
        unfinished=natural_sorted({s for r in records for part in r.split.values() for s in part}
                                  - {r.fold for r in records}))


def _one_choice(records: Sequence[FoldRecord]) -> dict[str, Any]:
    """The nested-selection candidate every fold chose ({} without selection)."""
    choices = {r.fold: (r.selection.chosen if r.selection else {}) for r in records}
    if len({repr(sorted(c.items())) for c in choices.values()}) > 1:
        raise SweepError(
            "the folds chose different candidates of loso.select.grid ("
            + "; ".join(f"fold {f}: {c}" for f, c in choices.items())
            + "): no single recipe to train on all patients")
    return next(iter(choices.values()))


def read_sweep(sweep: str | Path, model: str) -> tuple[list[FoldRecord], dict[str, DictConfig]]:
    """The finished folds' records of ``<sweep>/<model>`` and their saved configs."""
    sweep = Path(sweep).expanduser()
    model_dir = sweep / str(model)
    if not model_dir.is_dir():
        found = sorted(p.parent.name for p in sweep.glob("*/fold=*")) if sweep.is_dir() else []
        raise SweepError(
            f"no LOSO sweep of model {model} at {model_dir}"
            + (f" (models there: {', '.join(sorted(set(found)))})" if found else
               " (run `python -m seizure_lightning -m +experiment=loso ...` first)"))
    records = [r for r in read_fold_records(model_dir) if r.fold is not None]
    if not records:
        raise SweepError(f"{model_dir} has no finished fold (no fold=*/summary.json): finish the "
                         "sweep first (re-running its command runs the missing folds)")
    configs = {}
    for record in records:
        path = model_dir / f"fold={record.fold}" / FOLD_CONFIG
        if not path.is_file():
            raise SweepError(f"{path} is missing: the fold's config is what the all-patients "
                             "model trains with (folds of `-m +experiment=loso` save it)")
        configs[record.fold] = OmegaConf.load(path)
    return sorted(records, key=lambda r: natural_key(r.fold)), configs


def training_config(fold_cfg: DictConfig, run_cfg: DictConfig, plan: AllPatientsPlan,
                    sweep: str | Path, out_dir: str | Path) -> DictConfig:
    """The config that trains the all-patients model: the fold's recipe (with the chosen
    candidate of a nested selection) on every subject, with no held-out subject and no inner
    validation split, a schedule of ``plan.schedule_epochs`` stopped after ``plan.epochs``,
    writing to ``out_dir``; where it trains, its logger and callbacks are this run's
    (``run_cfg``: :data:`RUN_KEYS`, :data:`RUN_TRAINER_KEYS`)."""
    cfg = OmegaConf.create(OmegaConf.to_container(fold_cfg, resolve=False))
    mine = OmegaConf.to_container(run_cfg, resolve=False)
    with open_dict(cfg):
        for key in RUN_KEYS:
            cfg[key] = mine.get(key)
        for key in RUN_TRAINER_KEYS:
            if key in run_cfg.trainer:
                cfg.trainer[key] = run_cfg.trainer[key]
            else:
                cfg.trainer.pop(key, None)
        cfg.trainer.default_root_dir = "${paths.output_dir}"
        cfg.trainer.max_epochs = plan.schedule_epochs
        cfg.data.test_subject = None
        cfg.data.split = None
        cfg.callbacks = cfg.callbacks or {}
        cfg.callbacks.stop_after_epochs = {
            "_target_": "seizure_lightning.engine.checkpoints.StopAfterEpochs",
            "epochs": plan.epochs}
        cfg.task = "train_all"
        cfg.name = f"{ALL_PATIENTS_DIR}-{plan.model}"
        cfg.job_type = "train_all"
        # what the model is trained from: it keys the run (resume, skip when finished)
        cfg.train_all = {"sweep": str(Path(sweep).expanduser().resolve()), "model": plan.model,
                         "folds": plan.folds, "epochs": plan.epochs}
    return candidate_config(cfg, plan.chosen, str(out_dir))
