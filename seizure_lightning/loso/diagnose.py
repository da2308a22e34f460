"""Why does a model rank new patients the way it does? Per-fold scores of the training, inner
validation and held-out subjects (``fold_scores.csv`` of each fold).

A model that learned the movement scores a held-out patient like the training patients of the
same class; one that learned the patients (their look, their room) separates its training
subjects perfectly and puts a new patient wherever the fold's class balance and calibration
push it. ``python -m seizure_lightning.loso.diagnose SWEEP_DIR`` prints, per model: the pooled
AUROC on the training, validation and held-out videos, and the mean shift of a held-out
patient's p_PNES from the training patients of its own class (0: seen like them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seizure_lightning.evaluation.metrics import binary_figures
from seizure_lightning.utils.io import atomic_write_text

SCORE_COLUMNS = ("video_id", "subject_id", "label", "part", "p_PNES", "fold")


def _auroc(frame: pd.DataFrame) -> float | None:
    if frame.label.nunique() < 2:
        return None
    preds = np.where(frame.p_PNES > 0.5, "PNES", "ES")
    return binary_figures(frame.label.tolist(), preds.tolist(), frame.p_PNES.to_numpy())["auroc"]


def fold_shifts(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per fold: the held-out subject, its class, its mean p_PNES, the mean p_PNES of
    the training subjects of each class, and ``shift`` = held-out minus same-class training."""
    rows = []
    for fold, part in scores.groupby("fold", sort=False):
        test = part[part.part == "test"]
        train = part[part.part == "train"]
        if test.empty or train.empty:
            continue
        label = test.label.iloc[0]
        by_class = train.groupby("label").p_PNES.mean()
        same = by_class.get(label)
        rows.append({
            "fold": fold, "label": label, "test_p_PNES": test.p_PNES.mean(),
            "train_ES_p_PNES": by_class.get("ES"), "train_PNES_p_PNES": by_class.get("PNES"),
            "shift": None if same is None else test.p_PNES.mean() - same,
        })
    return pd.DataFrame(rows)


def diagnose_model(model_dir: Path) -> dict[str, Any]:
    """The diagnostic figures of one model folder of a sweep (its folds' ``fold_scores.csv``)."""
    frames = [pd.read_csv(p, dtype={"video_id": str, "subject_id": str, "fold": str})
              for p in sorted(model_dir.glob("fold=*/fold_scores.csv"))]
    if not frames:
        raise FileNotFoundError(f"no fold_scores.csv under {model_dir}")
    scores = pd.concat(frames, ignore_index=True)
    shifts = fold_shifts(scores)
    out: dict[str, Any] = {"model": model_dir.name, "folds": len(frames)}
    for part in ("train", "val", "test"):
        out[f"auroc_{part}"] = _auroc(scores[scores.part == part])
    for label in ("ES", "PNES"):
        mine = shifts[shifts.label == label]["shift"].dropna()
        out[f"shift_{label}"] = float(mine.mean()) if len(mine) else None
    out["shifts"] = shifts
    return out


def diagnose_sweep(sweep_dir: Path) -> str:
    """The Markdown table of every model of a sweep that has fold scores."""
    lines = [
        "| model | folds | AUROC train | AUROC val | AUROC held-out | shift ES | shift PNES |",
        "|---|---|---|---|---|---|---|",
    ]
    for model_dir in sorted(p for p in Path(sweep_dir).iterdir() if p.is_dir()):
        if not any(model_dir.glob("fold=*/fold_scores.csv")):
            continue
        d = diagnose_model(model_dir)
        cells = [d["model"], str(d["folds"])] + [
            "n/a" if d[k] is None else f"{d[k]:+.3f}" if k.startswith("shift") else f"{d[k]:.3f}"
            for k in ("auroc_train", "auroc_val", "auroc_test", "shift_ES", "shift_PNES")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return (
        "Per-fold scores (`fold_scores.csv`): AUROC of p_PNES on the training, inner validation and "
        "held-out videos, pooled over folds; shift = a held-out patient's mean p_PNES minus that "
        "of the training patients of its class, averaged over folds (negative for PNES / positive "
        "for ES: new patients are pushed towards the other class).\n\n" + "\n".join(lines) + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m seizure_lightning.loso.diagnose",
        description="Per-model LOSO diagnostics from the folds' fold_scores.csv.")
    parser.add_argument("sweep_dir", type=Path, help="a sweep folder, e.g. logs/loso/demo")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    text = diagnose_sweep(args.sweep_dir)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
