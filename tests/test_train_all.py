"""A model for the next patient (``+experiment=train_all``): the epochs and the decision rule
taken from a LOSO sweep's folds, its refusals, and end to end on tiny data: sweep, train on all
patients, predict a new video with only the sweep and the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from seizure_lightning.engine.inference import CKPT_KEY
from seizure_lightning.evaluation.fold_record import (
    Candidate,
    Decision,
    FoldRecord,
    Selection,
    record_path,
)
from seizure_lightning.loso.all_patients import (
    FOLD_CONFIG,
    SweepError,
    all_patients_dir,
    make_plan,
    median_epoch,
    read_sweep,
    recipe_differences,
    training_config,
)
from seizure_lightning.tasks import run_task
from seizure_lightning.tasks.predict import checkpoint_path, fold_checkpoint

from .conftest import TINY_OVERRIDES, compose_config, run_cli

ARGMAX = Decision()


def _record(fold: str, epoch: int | None = None, decision: Decision = ARGMAX,
            chosen: dict | None = None, model: str = "tiny") -> FoldRecord:
    """A finished fold's record that tested epoch ``epoch`` (counted from 1; None: its last)."""
    tested = None if epoch is None else f"/x/checkpoints/epoch{epoch - 1:03d}-step000010.ckpt"
    selection = None if chosen is None else Selection("auroc", [Candidate(chosen, 1.0, 0.1, "/x")],
                                                      chosen)
    return FoldRecord(fold=fold, model=model, tested_checkpoint=tested, decision=decision,
                      selection=selection)


def _config(fold: str, max_epochs: int = 10, **extra) -> dict:
    """The part of a fold's saved config the plan reads."""
    cfg = {"model": {"name": "tiny", "finetune": {"lr": 0.001}},
           "data": {"test_subject": fold, "batch_size": 16, "num_workers": 0},
           "trainer": {"max_epochs": max_epochs, "accelerator": "cpu"}, "seed": 42}
    return OmegaConf.to_container(OmegaConf.merge(cfg, extra))


def _plan(records, configs=None):
    configs = configs or {r.fold: OmegaConf.create(_config(r.fold)) for r in records}
    return make_plan("tiny", records, {k: OmegaConf.create(v) for k, v in configs.items()})


# ----------------------------------------------------------------------------- pure
def test_median_epoch_counts_from_one_and_rounds_half_up() -> None:
    assert median_epoch([3]) == 3
    assert median_epoch([2, 5, 9]) == 5
    assert median_epoch([3, 4]) == 4  # 3.5 -> 4
    assert median_epoch([3, 4, 4, 5]) == 4
    # epoch004-… is the weights after 5 epochs
    assert _record("P01", 5).tested_epoch == 5


def test_epochs_from_tested_checkpoints_or_the_last_epoch() -> None:
    plan = _plan([_record("P01", 4), _record("P02", 7), _record("P03", 6)])
    assert plan.fold_epochs == {"P01": 4, "P02": 7, "P03": 6}
    assert (plan.epochs, plan.schedule_epochs) == (6, 10)
    assert plan.decision == Decision("argmax") and "argmax" in plan.decision_source
    # loso.checkpoint=last (the paper): every fold tested epoch max_epochs
    last = _plan([_record("P01"), _record("P02")])
    assert last.fold_epochs == {"P01": 10, "P02": 10} and last.epochs == 10


def test_val_threshold_is_the_median_of_the_folds() -> None:
    plan = _plan([_record(f, 5, Decision("val_threshold", t))
                  for f, t in (("P01", 0.3), ("P02", 0.62), ("P03", 0.41))])
    assert plan.decision == Decision("val_threshold", 0.41)
    assert plan.fold_thresholds == {"P01": 0.3, "P02": 0.62, "P03": 0.41}
    assert "median" in plan.decision_source


def test_refusals() -> None:
    with pytest.raises(SweepError, match="no finished fold"):
        _plan([])
    with pytest.raises(SweepError, match="different decision rules"):
        _plan([_record("P01", 5), _record("P02", 5, Decision("val_threshold", 0.4))])
    with pytest.raises(SweepError, match=r"different configs \(model.finetune.lr\)"):
        _plan([_record("P01", 5), _record("P02", 5)],
              {"P01": _config("P01"), "P02": _config("P02", model={"finetune": {"lr": 0.01}})})
    with pytest.raises(SweepError, match=r"different candidates of loso\.select\.grid"):
        _plan([_record("P01", 5, chosen={"model.finetune.lr": 0.01}),
               _record("P02", 5, chosen={"model.finetune.lr": 0.001})])
    with pytest.raises(SweepError, match="name model"):
        _plan([_record("P01", 5, model="lstm")])


def test_where_a_fold_ran_is_not_the_recipe() -> None:
    configs = {"P01": _config("P01"),
               "P02": _config("P02", trainer={"accelerator": "gpu"}, data={"num_workers": 8})}
    assert recipe_differences(configs) == []
    assert recipe_differences({**configs, "P03": _config("P03", data={"batch_size": 8})}) == [
        "data.batch_size"]


def test_the_chosen_candidate_is_applied() -> None:
    chosen = {"model.finetune.lr": "*3", "trainer.max_epochs": 20}
    plan = _plan([_record("P01", 12, chosen=chosen), _record("P02", 14, chosen=chosen)])
    assert (plan.epochs, plan.schedule_epochs, plan.chosen) == (13, 20, chosen)


def test_training_config_trains_every_patient(tmp_path: Path) -> None:
    fold = compose_config(tmp_path, ["+experiment=loso", *TINY_OVERRIDES, "data.test_subject=P01",
                                     "trainer.max_epochs=9", "model.finetune.lr=0.002"])
    run = compose_config(tmp_path, ["+experiment=train_all", "train_all.sweep=s",
                                    "train_all.model=tiny", "trainer=cpu", "logger=none"])
    plan = _plan([_record("P01", 4), _record("P02", 6)],
                 {f: _config(f, max_epochs=9) for f in ("P01", "P02")})
    cfg = training_config(fold, run, plan, tmp_path / "s", tmp_path / "out")
    assert cfg.data.test_subject is None and cfg.data.split is None  # no inner validation
    assert cfg.model.finetune.lr == 0.002 and cfg.trainer.max_epochs == 9
    assert cfg.callbacks.stop_after_epochs.epochs == 5
    assert cfg.callbacks.model_checkpoint.monitor is None and not cfg.logger  # this run's
    assert cfg.paths.output_dir == str(tmp_path / "out") and cfg.task == "train_all"


def _write_fold(model_dir: Path, record: FoldRecord, cfg: dict | None) -> None:
    folder = model_dir / f"fold={record.fold}"
    record.to_json(record_path(folder))
    if cfg is not None:
        (folder / FOLD_CONFIG).parent.mkdir(parents=True)
        OmegaConf.save(OmegaConf.create(cfg), folder / FOLD_CONFIG)


def test_read_sweep_refusals(tmp_path: Path) -> None:
    sweep = tmp_path / "logs" / "loso" / "demo"
    with pytest.raises(SweepError, match="no LOSO sweep of model tiny"):
        read_sweep(sweep, "tiny")
    (sweep / "tiny" / "fold=P01").mkdir(parents=True)  # a failed fold: no record
    with pytest.raises(SweepError, match="no finished fold"):
        read_sweep(sweep, "tiny")
    with pytest.raises(SweepError, match=r"models there: tiny\)"):
        read_sweep(sweep, "lstm")
    _write_fold(sweep / "tiny", _record("P01", 3), None)
    with pytest.raises(SweepError, match=r"\.hydra/config\.yaml is missing"):
        read_sweep(sweep, "tiny")


def test_predict_picks_the_all_patients_model_or_a_fold(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    cfg = OmegaConf.create({"predict": {"sweep": str(sweep), "model": "tiny", "subject": None}})
    with pytest.raises(SweepError, match=r"\+experiment=train_all train_all.sweep=.* "
                                         r"train_all.model=tiny"):
        checkpoint_path(cfg)
    (all_patients_dir(sweep, "tiny") / "model.ckpt").parent.mkdir(parents=True)
    (all_patients_dir(sweep, "tiny") / "model.ckpt").touch()
    assert checkpoint_path(cfg) == sweep / "tiny" / "all_patients" / "model.ckpt"
    # a fold: the checkpoint it tested (loso.checkpoint=best), else its last.ckpt
    fold = sweep / "tiny" / "fold=P01"
    _write_fold(sweep / "tiny", _record("P01", 3), None)
    cfg.predict.subject = "P01"
    assert checkpoint_path(cfg) == fold / "checkpoints" / "last.ckpt"
    (fold / "checkpoints").mkdir()
    (fold / "checkpoints" / "epoch002-step000010.ckpt").touch()
    assert fold_checkpoint(fold) == fold / "checkpoints" / "epoch002-step000010.ckpt"


# ----------------------------------------------------------------------------- end to end
def test_sweep_train_on_all_patients_predict(tmp_path: Path, shared_root: Path,
                                             tiny_dataset: Path) -> None:
    """Two folds of the recipe (the tested epoch chosen on the inner validation subjects, the
    threshold there), the model on all four patients, a new video predicted by it."""
    sweep_args = ["-m", "+experiment=loso", *TINY_OVERRIDES, "model=tiny_scratch", "loso=recipe",
                  "loso.decision=val_threshold", "trainer.max_epochs=2", "loso.report=false",
                  "loso.compare=[]", "data.test_subject=P01,P02",
                  f"paths.root_dir={shared_root}", f"paths.log_dir={tmp_path}/logs"]
    done = run_cli(sweep_args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = tmp_path / "logs" / "loso" / "synthetic-tiny-seed0"
    records = {f: FoldRecord.read(record_path(sweep / "tiny_scratch" / f"fold={f}"))
               for f in ("P01", "P02")}

    def compose(*overrides: str):
        return compose_config(tmp_path / "run", [*overrides, *TINY_OVERRIDES],
                              shared_root=shared_root)

    summary = run_task(compose("+experiment=train_all", f"train_all.sweep={sweep}",
                               "train_all.model=tiny_scratch"))
    out = sweep / "tiny_scratch" / "all_patients"
    assert json.loads((out / "summary.json").read_text()) == summary
    epochs = median_epoch([r.tested_epoch or 2 for r in records.values()])
    assert summary["subjects"] == ["P01", "P02", "P03", "P04"]
    assert summary["epochs"] == summary["epochs_trained"] == epochs
    assert summary["fold_epochs"] == {f: r.tested_epoch or 2 for f, r in records.items()}
    settings = torch.load(out / "model.ckpt", weights_only=True)[CKPT_KEY]
    thresholds = sorted(r.decision.threshold for r in records.values())
    assert settings["decision"] == {"rule": "val_threshold",
                                    "threshold": pytest.approx(sum(thresholds) / 2)}
    assert settings["epochs"] == epochs and settings["source"]["folds"] == ["P01", "P02"]
    assert settings["source"]["sweep"] == str(sweep.resolve()) and settings["window"] > 0
    assert settings["source"]["unfinished"] == ["P03", "P04"]  # a sweep of two folds
    # the same command again: the finished model is kept
    assert run_task(compose("+experiment=train_all", f"train_all.sweep={sweep}",
                            "train_all.model=tiny_scratch")) == summary

    video = next((tiny_dataset / "videos").glob("SZ*.mp4"))
    predict = ["+experiment=predict", f"predict.video={video}", f"predict.sweep={sweep}",
               "predict.model=tiny_scratch", "backbone.allow_random_weights=true"]
    run_task(compose(*predict, f"predict.out={tmp_path / 'new'}"))
    result = json.loads((tmp_path / "new" / "prediction.json").read_text())
    assert result["checkpoint"] == str((out / "model.ckpt").resolve())
    assert result["decision"] == "val_threshold"
    assert result["threshold"] == pytest.approx(settings["decision"]["threshold"])
    assert result["label"] == ("PNES" if result["p_PNES"] > result["threshold"] else "ES")
    # one fold's model stays a choice: the weights that fold tested, with its own rule
    run_task(compose(*predict, "predict.subject=P01", f"predict.out={tmp_path / 'fold'}"))
    result = json.loads((tmp_path / "fold" / "prediction.json").read_text())
    assert result["threshold"] == pytest.approx(records["P01"].decision.threshold)
    tested = records["P01"].tested_checkpoint
    assert Path(result["checkpoint"]).name == (Path(tested).name if tested else "last.ckpt")
