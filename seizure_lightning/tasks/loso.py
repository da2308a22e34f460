"""Task ``loso``: one leave-one-subject-out fold, as one job of the Hydra multirun.

A failed fold is recorded (``status.json``: failed + the error) and does not stop the sweep;
re-running the same sweep skips folds whose predictions exist for the same config.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seizure_lightning.tasks.common import is_multirun
from seizure_lightning.tasks.finetune import run_fold
from seizure_lightning.utils.io import atomic_write_json
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)

# config keys that do not change a fold's result (where it runs, how it logs)
_VOLATILE = ("paths", "hydra", "logger", "callbacks", "print_config", "name", "tags", "ckpt_path")


def fold_config_hash(cfg: DictConfig) -> str:
    """A hash of everything that defines the fold's result."""
    container = OmegaConf.to_container(cfg, resolve=False)
    for key in _VOLATILE:
        container.pop(key, None)
    for key in ("data_dir", "cache_dir"):
        container.get("data", {}).pop(key, None)
    text = json.dumps(container, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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


def loso_fold(cfg: DictConfig) -> float | None:
    """Run the fold ``data.test_subject``; never raise (the sweep goes on), record the outcome."""
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
        log.error("fold %s failed: %s", subject, exc)
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
    log.info("fold %s: accuracy %.3f on %d videos", subject, summary["accuracy"],
             summary["n_videos"])
    return summary.get("accuracy")
