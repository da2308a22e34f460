"""Balanced accuracy of a finished LOSO sweep under other decision rules, from its own files.

    .venv/bin/python experiments/decision_rules.py logs/loso/<sweep> [more sweeps...]

For each model of each sweep, pools the held-out videos of every fold (``predictions.csv``) and
prints the video-level balanced accuracy of three rules on the SAME probabilities: ``argmax``
(p_PNES > 0.5), ``fold threshold`` (p_PNES > the threshold the fold chose on its inner
validation subjects, ``summary.json`` ``threshold``; 0.5 where it chose none) and ``halfway``
(the threshold moved halfway to 0.5 in logit space). Nothing is retrained: it shows what the
rule alone does (docs/learning.md §3e). Use it on development sweeps to choose a rule.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def balanced_accuracy(labels: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([(pred[labels == k] == k).mean() for k in (0, 1)]))


def pooled_predictions(model_dir: Path) -> pd.DataFrame:
    """Every fold's held-out videos with the fold's threshold (column ``threshold``)."""
    frames = []
    for summary in sorted(model_dir.glob("fold=*/summary.json")):
        threshold = json.loads(summary.read_text()).get("threshold")
        frame = pd.read_csv(summary.parent / "predictions.csv")
        frame["threshold"] = 0.5 if threshold is None else float(threshold)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def rule_accuracies(frame: pd.DataFrame) -> dict[str, float]:
    labels = (frame["label"] == "PNES").to_numpy(int)
    p, t = frame["p_PNES"].to_numpy(float), frame["threshold"].to_numpy(float)
    halfway = 1 / (1 + np.exp(-0.5 * _logit(t)))
    return {
        "argmax": balanced_accuracy(labels, (p > 0.5).astype(int)),
        "fold threshold": balanced_accuracy(labels, (p > t).astype(int)),
        "halfway": balanced_accuracy(labels, (p > halfway).astype(int)),
    }


def main(sweeps: list[str]) -> None:
    if not sweeps:
        raise SystemExit(__doc__)
    print("| sweep | model | folds | argmax | fold threshold | halfway |")
    print("| --- | --- | --- | --- | --- | --- |")
    for sweep in map(Path, sweeps):
        for model_dir in sorted(p for p in sweep.iterdir() if p.is_dir()):
            frame = pooled_predictions(model_dir)
            if frame.empty:
                continue
            acc = rule_accuracies(frame)
            print(f"| {sweep.name} | `{model_dir.name}` | {frame['fold'].nunique()} | "
                  + " | ".join(f"{acc[k]:.3f}" for k in ("argmax", "fold threshold", "halfway"))
                  + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
