"""wandb offline runs: config and summary are in the run file; nothing names a file."""

from __future__ import annotations

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
