"""wandb offline runs: config and summary are in the run file; nothing names a file."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from seizure_lightning.tasks import run_task
from tests.wandb_records import offline_run_records

from .conftest import compose_config

TINY = (
    "synth=tiny", "backbone=tiny", "frames=tiny", "model=tiny", "logger=wandb", "trainer=cpu",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "print_config=false",
)


def _synced_bytes(run_dir: Path) -> bytes:
    """Everything `wandb sync` would upload from an offline run folder (not its local logs)."""
    blob = b""
    for path in run_dir.rglob("*"):
        if path.is_file() and "logs" not in path.relative_to(run_dir).parts:
            blob += path.read_bytes()
    return blob


def test_offline_fold_run_has_config_summary_and_no_paths(
    tmp_path: Path, shared_root: Path, tiny_dataset: Path
) -> None:
    cfg = compose_config(
        tmp_path, ["+experiment=loso", *TINY, "model=tiny_scratch", "trainer.max_epochs=1",
                   "data.test_subject=P02"],
        shared_root=shared_root,
    )
    run_task(cfg)
    out = Path(cfg.paths.output_dir)
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    run_id = (out / "wandb_id.txt").read_text().strip()
    assert runs[0].name.endswith(run_id)
    records = offline_run_records(next(runs[0].glob("run-*.wandb")))
    kinds = [r.WhichOneof("record_type") for r in records]
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.run_group == "loso-synthetic-tiny-seed0"
    assert run.display_name == "fold=P02" and run.job_type == "finetune"
    config_keys = {u.key for r in records if r.WhichOneof("record_type") == "config"
                   for u in r.config.update}
    assert {"task", "data", "model", "run"} <= config_keys
    summary_keys = {u.key or "/".join(u.nested_key) for r in records
                    if r.WhichOneof("record_type") == "summary" for u in r.summary.update}
    assert "test/acc" in summary_keys and "train/loss_epoch" in summary_keys
    assert "output_raw" not in kinds  # console capture is off unless log_media=true

    # privacy: no manifest path, video or box file name, data folder reaches the run files
    manifest = tiny_dataset / "seizures.csv"
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    secrets = [str(manifest), str(tiny_dataset), str(shared_root), *frame.path, *frame.boxes]
    blob = _synced_bytes(runs[0])
    leaked = [s for s in secrets if s and s.encode() in blob]
    assert not leaked, f"paths sent to wandb: {leaked}"


def test_report_run_logs_the_figure_and_names_no_file(tmp_path: Path) -> None:
    """A sweep's wandb report run (engine.loggers.log_report_run, offline): its summary
    scalars and its images (summary.png: a figure of metrics, logged like the other report
    plots); no path of the sweep reaches the run files."""
    from omegaconf import OmegaConf

    from seizure_lightning.engine.loggers import log_report_run
    from seizure_lightning.report.plots import plot_sweep_summary

    video = {"balanced_accuracy": 0.75, "auroc": 0.8,
             "ci": {"balanced_accuracy": {"low": 0.6, "high": 0.9}, "auroc": None}}
    plot_sweep_summary({"tiny": video}, None, tmp_path / "summary.png")
    node = OmegaConf.create({"_target_": "lightning.pytorch.loggers.WandbLogger",
                             "project": "p", "group": "loso-x", "offline": True})
    log_report_run(node, "sweep-summary", tmp_path, {"models": ["tiny"]},
                   summary={"loso/tiny/balanced_accuracy": 0.75},
                   images=[tmp_path / "summary.png", tmp_path / "absent.png"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list((runs[0] / "files" / "media" / "images" / "loso").glob("summary_*.png"))
    for _ in range(50):  # the run file is complete once its exit record is written
        records = offline_run_records(next(runs[0].glob("run-*.wandb")))
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        time.sleep(0.2)
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.job_type == "report" and run.run_group == "loso-x"
    logged = {u.key or "/".join(u.nested_key) for r in records
              if r.WhichOneof("record_type") in ("history", "summary")
              for u in (r.history.item if r.WhichOneof("record_type") == "history"
                        else r.summary.update)}
    assert "loso/summary/_type" in logged  # the image
    assert not any(k.startswith("loso/absent") for k in logged)
    assert "loso/tiny/balanced_accuracy" in logged
    assert str(tmp_path).encode() not in _synced_bytes(runs[0])
