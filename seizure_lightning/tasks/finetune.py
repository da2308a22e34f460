"""Task ``finetune``: ES vs PNES fine-tuning on all subjects, or on one LOSO fold.

With ``data.test_subject=S`` the held-out subject's videos are classified after training
(window softmax averaged per video, the paper's rule; ``loso/fold.py``) and written to
``predictions.csv`` (docs/data_contract.md) and ``windows.csv`` in the run folder.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from seizure_lightning.loso.fold import run_fold
from seizure_lightning.utils.io import atomic_write_json
from seizure_lightning.utils.logging import global_rank


def finetune(cfg: DictConfig) -> float | None:
    """Fine-tune; with ``data.test_subject`` also predict the held-out subject."""
    run_dir = Path(cfg.paths.output_dir)
    summary = run_fold(cfg, run_dir)
    if global_rank() == 0:
        atomic_write_json(run_dir / "summary.json", summary)
    return summary.get("accuracy")
