"""The Hydra app composes: every experiment, from any cwd, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from seizure_lightning.app import CONFIG_DIR
from seizure_lightning.tasks import TASKS

from .conftest import compose_config, run_cli

EXPERIMENTS = sorted(
    str(p.relative_to(CONFIG_DIR / "experiment").with_suffix(""))
    for p in (CONFIG_DIR / "experiment").rglob("*.yaml")
)


def test_experiments_found() -> None:
    assert {"pretrain", "finetune", "loso", "preprocess", "synthesize", "predict"} <= set(
        EXPERIMENTS
    )


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment: str, tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, [f"+experiment={experiment}"])
    assert cfg.task in TASKS, f"experiment {experiment} selects unknown task {cfg.task}"
    # everything except Hydra's runtime paths resolves
    container = OmegaConf.to_container(cfg, resolve=False)
    assert container["task"] == cfg.task
    for group in ("data", "model", "trainer", "frames", "backbone"):
        if group in cfg:
            OmegaConf.to_container(cfg[group], resolve=True)
    GlobalHydra.instance().clear()


def test_paper_model_matches_paper_numbers(tmp_path: Path) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["+experiment=paper/pretrain"])
    enc = cfg.model.encoder
    assert (enc.d_model, enc.num_layers, enc.num_heads, enc.max_positions) == (1024, 6, 8, 256)
    assert cfg.model.input.descriptor_dim == 2048 and cfg.model.input.kind == "none"
    assert cfg.optimizer.lr == 0.01 and cfg.optimizer.weight_decay == 1e-4
    assert cfg.trainer.max_epochs == 60
    corruption = cfg.pretrain.module.corruption
    assert corruption.span == 30 and corruption.mask_ratio == 0.15
    GlobalHydra.instance().clear()


def test_cfg_job_from_another_cwd(tmp_path: Path) -> None:
    result = run_cli(["+experiment=pretrain", "--cfg", "job"], cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    cfg = OmegaConf.create(result.stdout)
    assert cfg.task == "pretrain"
    assert cfg.data._target_.endswith("ContextualClipDataModule")


def test_help_lists_groups(tmp_path: Path) -> None:
    result = run_cli(["--help"], cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    for group in ("data:", "model:", "trainer:", "logger:", "experiment:", "debug:", "backbone:"):
        assert group in result.stdout


def test_unknown_override_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(["+experiment=pretrain", "model.no_such_key=3", "--cfg", "job"], cwd=tmp_path)
    assert result.returncode != 0
    assert "no_such_key" in result.stderr


def test_no_task_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli([f"paths.root_dir={tmp_path}", "logger=none"], cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert "+experiment=" in result.stderr


def test_trainer_without_logger_drops_the_lr_monitor(cfg_factory) -> None:
    """logger=none: LearningRateMonitor needs a logger, so the trainer is built without it."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    from seizure_lightning.engine.trainer import build_trainer

    cfg = cfg_factory("+experiment=pretrain", "logger=none", "callbacks=default")
    trainer = build_trainer(cfg, Path(cfg.paths.output_dir), loggers=[])
    assert not any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
    assert trainer.checkpoint_callback is not None


def test_paper_experiments_are_the_papers_numbers() -> None:
    """Every number of docs/method_to_code.md that a config holds, as composed."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        pre = compose(config_name="config", overrides=["+experiment=paper/pretrain"])
        loso = compose(config_name="config", overrides=["+experiment=paper/loso"])
    GlobalHydra.instance().clear()
    for cfg in (pre, loso):
        enc = cfg.model.encoder
        assert (enc.d_model, enc.num_layers, enc.num_heads, enc.ffn_dim) == (1024, 6, 8, 4096)
        assert enc.max_positions == 256 and cfg.model.input.descriptor_dim == 2048
        assert cfg.model.input.kind == "none"
        assert cfg.data.window == 256 and cfg.frames.fps == 25.0 and cfg.frames.crop == 112
        assert list(cfg.frames.resize) == [128, 171]
        assert cfg.backbone.arch == "resnet152" and cfg.backbone.weights == "IMAGENET1K_V2"
        assert cfg.optimizer._target_ == "torch.optim.AdamW" and cfg.optimizer.weight_decay == 1e-4
        assert cfg.scheduler.name == "linear" and cfg.scheduler.warmup_ratio == 0.0
        assert cfg.trainer.gradient_clip_val is None
    corruption = pre.pretrain.module.corruption
    assert (corruption.span, corruption.mask_ratio, corruption.loss_on) == (30, 0.15, "all")
    assert pre.trainer.max_epochs == 60 and pre.optimizer.lr == 0.01
    # the paper's random 112 crop per clip (not fixed crops), every recording in pre-training
    assert pre.data.crop_mode == "random" and pre.data.val_fraction == 0.0
    assert loso.trainer.max_epochs == 50 and loso.data.batch_size == 16
    assert loso.model.finetune.lr == 0.005 and loso.model.head.dropout == 0.5
    assert loso.model.name == "paper"
    assert loso.loso.decision == "argmax" and loso.loso.checkpoint == "last"
    assert loso.loso.select.grid is None and loso.data.split.val_fraction == 0.0


def test_a_data_error_prints_the_message_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "seizures.csv"
    bad.write_text("video_id,subject_id,path\nSZ1,P1,missing.mp4\n")  # no label column
    args = ["+experiment=preprocess", f"data.manifest={bad}", f"paths.root_dir={tmp_path}",
            "backbone.allow_random_weights=true", "logger=none", "print_config=false"]
    quiet = run_cli(args, cwd=tmp_path, env={"HYDRA_FULL_ERROR": "0"})
    assert quiet.returncode == 65, quiet.stderr[-2000:]
    assert "error: manifest" in quiet.stderr and "label" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    loud = run_cli(args, cwd=tmp_path)  # HYDRA_FULL_ERROR=1: the traceback, for a developer
    assert loud.returncode != 0 and "Traceback" in loud.stderr


def test_a_run_logs_each_event_once(tmp_path: Path) -> None:
    args = ["+experiment=pretrain", "synth=tiny", "backbone=tiny", "frames=tiny", "logger=csv",
            "trainer=cpu", "debug=fdr", "print_config=false", f"paths.root_dir={tmp_path}"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    assert text.count("GPU available") == 1  # not once by Lightning's handler and once by Hydra's
    assert "Tip:" not in text
    assert "LeafSpec" not in text


def test_skipped_rows_are_reported_once(tmp_path: Path, tiny_dataset: Path) -> None:
    manifest = tiny_dataset / "seizures_with_a_bad_row.csv"
    rows = (tiny_dataset / "seizures.csv").read_text().rstrip("\n")
    manifest.write_text(rows + "\nSZ9999,P01,ES,videos/missing.mp4,,,\n")
    args = ["+experiment=preprocess", f"data.manifest={manifest}", "data.skip_bad_rows=true",
            "backbone=tiny", "backbone.allow_random_weights=true", "frames=tiny",
            f"paths.root_dir={tmp_path}", "logger=none", "print_config=false"]
    done = run_cli(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout + done.stderr
    assert text.count("skipping 1 bad row") == 1 and "missing.mp4" in text


def test_help_opens_with_usage_and_every_experiment(tmp_path: Path) -> None:
    done = run_cli(["--help"], cwd=tmp_path)
    assert done.returncode == 0
    head = done.stdout.split("== Configuration groups")[0]
    assert head.startswith("seizure-lightning:") and "Usage:" in head
    experiments = sorted(str(p.relative_to(CONFIG_DIR / "experiment").with_suffix(""))
                         for p in (CONFIG_DIR / "experiment").rglob("*.yaml"))
    for name in experiments:
        assert f"\n  {name} " in head, f"--help does not list +experiment={name}"
    # one screen: the most used overrides and which learning rate applies where; the full config
    # only with --cfg job
    text = done.stdout
    assert len(text.splitlines()) < 60, text
    for needed in ("Most used overrides:", "data.manifest=", "model=", "pretrained=",
                   "trainer=gpu", "backbone=resnet152", "hydra/launcher=joblib", "logger=csv",
                   "paths.root_dir=", "trainer.max_epochs=", "loso=recipe", "--cfg job",
                   "Learning rates:", "optimizer.lr", "model.finetune.lr", "model.finetune.head_lr",
                   "docs/weights.md", "== Configuration groups", "seizure-lightning-report"):
        assert needed in text, f"--help does not say {needed!r}"
    assert "resume_siblings" not in text  # no config dump
