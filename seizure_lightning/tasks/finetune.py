"""Task ``finetune``: ES vs PNES fine-tuning on all subjects, or on one LOSO fold.

With ``data.test_subject=S`` the held-out subject's videos are classified after training
(window softmax averaged per video, the paper's rule; ``loso/fold.py``) and written to
``predictions.csv`` (docs/data_contract.md) and ``windows.csv`` in the run folder; the fold's
record (``evaluation.fold_record.FoldRecord``) goes beside them.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from seizure_lightning.loso.fold import run_fold


def finetune(cfg: DictConfig) -> float | None:
    """Fine-tune; with ``data.test_subject`` also predict the held-out subject."""
    return run_fold(cfg, Path(cfg.paths.output_dir)).accuracy
