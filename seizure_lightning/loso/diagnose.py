"""Why does a model rank new patients the way it does? Per-fold scores of the training, inner
validation and held-out subjects (``fold_scores.csv`` of each fold).

A model that learned the movement scores a held-out patient like the training patients of the
same class; one that learned the patients (their look, their room) separates its training
subjects perfectly and puts a new patient wherever the fold's class balance and calibration
push it. ``python -m seizure_lightning.loso.diagnose SWEEP_DIR`` prints, per model: the pooled
AUROC on the training, validation and held-out videos, and the mean shift of a held-out
patient's p_PNES from the training patients of its own class (0: seen like them).

Two columns say whether the folds' offsets, not the patients, rank the held-out videos:
``AUROC of fold offsets`` scores every held-out video by its fold's offset alone (the midpoint of
the mean p_PNES of its training patients of each class, the same for both classes' patients)
and ``tested epoch`` gives the smallest and the median epoch the folds' tested weights come from.
A fold that tests barely trained weights outputs about its initial offset for everyone; when
such folds are mostly of one class, the offsets alone rank the held-out patients, forwards or
backwards (an offset AUROC far from 0.5). How much of the held-out AUROC the offsets carry:
``AUROC held-out, offsets removed`` ranks each held-out video by ``logit(p_PNES) - logit(offset)``
of its fold; close to the held-out AUROC, the offsets carry little of it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seizure_lightning.evaluation.decision import remove_offsets
from seizure_lightning.evaluation.fold_record import read_fold_records
from seizure_lightning.evaluation.metrics import binary_figures
from seizure_lightning.report.format import fmt, markdown_table
from seizure_lightning.utils.io import atomic_write_text

SCORE_COLUMNS = ("video_id", "subject_id", "label", "part", "p_PNES", "fold")


def _auroc(frame: pd.DataFrame) -> float | None:
    if frame.label.nunique() < 2:
        return None
    preds = np.where(frame.p_PNES > 0.5, "PNES", "ES")
    return binary_figures(frame.label.tolist(), preds.tolist(), frame.p_PNES.to_numpy())["auroc"]


def fold_midpoints(scores: pd.DataFrame) -> pd.Series:
    """Each fold's offset: the midpoint of the mean p_PNES of its training subjects of each class
    (NaN when a class is missing), indexed by fold."""
    by_class = (scores[scores.part == "train"].groupby(["fold", "label"]).p_PNES.mean()
                .unstack().reindex(columns=["ES", "PNES"]))
    return by_class.mean(axis=1, skipna=False)


def fold_offsets(scores: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows, ``p_PNES`` replaced by their fold's offset (``fold_midpoints``); folds
    without one are dropped."""
    test = scores[scores.part == "test"].copy()
    test["p_PNES"] = test.fold.map(fold_midpoints(scores)).to_numpy(dtype=float)
    return test.dropna(subset=["p_PNES"])


def offset_removed_test_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The held-out rows with ``p_PNES`` taken relative to their fold's offset (``fold_offsets``;
    ``evaluation.decision.remove_offsets``): what is left of the ranking without the offsets.
    A fold without an offset (a class missing in its training subjects) keeps its scores."""
    test = scores[scores.part == "test"].copy()
    test["p_PNES"] = remove_offsets(test.p_PNES.to_numpy(),
                                    test.fold.map(fold_midpoints(scores)).to_numpy(dtype=float))
    return test


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
    return pd.DataFrame(rows, columns=["fold", "label", "test_p_PNES", "train_ES_p_PNES",
                                       "train_PNES_p_PNES", "shift"])


def diagnose_model(model_dir: Path) -> dict[str, Any]:
    """The diagnostic figures of one model folder of a sweep (its folds' ``fold_scores.csv``,
    and the tested epochs of their records)."""
    paths = sorted(model_dir.glob("fold=*/fold_scores.csv"))
    frames = [pd.read_csv(p, dtype={"video_id": str, "subject_id": str, "fold": str})
              for p in paths]
    if not frames:
        raise FileNotFoundError(f"no fold_scores.csv under {model_dir}")
    scores = pd.concat(frames, ignore_index=True)
    shifts = fold_shifts(scores)
    out: dict[str, Any] = {"model": model_dir.name, "folds": len(frames)}
    for part in ("train", "val", "test"):
        out[f"auroc_{part}"] = _auroc(scores[scores.part == part])
    out["auroc_offsets"] = _auroc(fold_offsets(scores))
    out["auroc_test_offset_removed"] = _auroc(offset_removed_test_scores(scores))
    epochs = [r.tested_epoch for r in read_fold_records(model_dir) if r.tested_epoch is not None]
    out["tested_epoch"] = f"{min(epochs)} / {int(np.median(epochs))}" if epochs else "last"
    for label in ("ES", "PNES"):
        mine = shifts[shifts.label == label]["shift"].dropna()
        out[f"shift_{label}"] = float(mine.mean()) if len(mine) else None
    out["shifts"] = shifts
    return out


#: the diagnostics table's columns: (header, key of ``diagnose_model``)
COLUMNS = (("model", "model"), ("folds", "folds"), ("AUROC train", "auroc_train"),
           ("AUROC val", "auroc_val"), ("AUROC held-out", "auroc_test"),
           ("shift ES", "shift_ES"), ("shift PNES", "shift_PNES"),
           ("AUROC of fold offsets", "auroc_offsets"),
           ("AUROC held-out, offsets removed", "auroc_test_offset_removed"),
           ("tested epoch (min / median)", "tested_epoch"))


def diagnose_sweep(sweep_dir: Path) -> str:
    """The Markdown table of every model of a sweep that has fold scores."""
    rows = []
    for model_dir in sorted(p for p in Path(sweep_dir).iterdir() if p.is_dir()):
        if not any(model_dir.glob("fold=*/fold_scores.csv")):
            continue
        d = diagnose_model(model_dir)
        rows.append({header: fmt(d[key], signed=key.startswith("shift"))
                     for header, key in COLUMNS})
    return (
        "Per-fold scores (`fold_scores.csv`): AUROC of p_PNES on the training, inner validation and "
        "held-out videos, pooled over folds; shift = a held-out patient's mean p_PNES minus that "
        "of the training patients of its class, averaged over folds (negative for PNES / positive "
        "for ES: new patients are pushed towards the other class); AUROC of fold offsets = the "
        "held-out videos ranked by their fold's offset alone (the midpoint of its training "
        "patients' class means; far from 0.5: the offsets, not the patients, rank them); offsets "
        "removed = the held-out scores relative to their fold's offset, logit(p) - logit(offset), "
        "then pooled (near the held-out AUROC: the offsets carry little of it); tested "
        "epoch = the epochs the folds' tested weights come from.\n\n"
        + markdown_table(rows, [h for h, _ in COLUMNS])
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
