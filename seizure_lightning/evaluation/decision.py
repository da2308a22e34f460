"""The decision rule of a fold: the paper's argmax, or a p_PNES threshold chosen on the inner
validation subjects.

A classifier trained on a few patients is often confident on them and biased on a new one (every
unseen room and body looks like the larger class). The inner validation subjects are unseen
patients too, held out from the SAME training fold, so the operating point that balances them
corrects that bias without looking at the test subject. ``loso.decision=val_threshold`` uses it;
``argmax`` (default) is the paper's rule, i.e. a threshold of 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DECISIONS = ("argmax", "val_threshold")
ARGMAX_THRESHOLD = 0.5


def decide(probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """The class index (0 = ES, 1 = PNES) of each row of ``[V, 2]`` video probabilities: the
    one rule every path uses (the sweep, its report, ``predict``).

    ``threshold`` None: argmax, the paper's rule (an exact tie goes to ES); else PNES where
    ``p_PNES > threshold`` (strictly: a tie goes to ES here too).
    """
    p = np.asarray(probs, dtype=np.float64).reshape(-1, 2)
    if threshold is None:
        return (p[:, 1] > p[:, 0]).astype(int)
    return (p[:, 1] > float(threshold)).astype(int)


def balanced_accuracy_at(labels: np.ndarray, p_pnes: np.ndarray, threshold: float) -> float:
    """Balanced accuracy of ``p_PNES > threshold`` -> PNES (labels: 1 = PNES, 0 = ES); at 0.5
    this is the argmax rule with its tie going to ES."""
    pred = p_pnes > threshold
    recalls = [float((pred[labels == c] == bool(c)).mean()) for c in (0, 1) if (labels == c).any()]
    return float(np.mean(recalls))


def choose_threshold(labels: Sequence[int], p_pnes: Sequence[float]) -> float:
    """The p_PNES threshold that maximises balanced accuracy on ``(labels, p_pnes)``.

    Candidates are the midpoints between consecutive distinct probabilities (and 0.5); among
    equally good ones the threshold closest to 0.5 wins, so a validation set that cannot tell
    the rules apart keeps the paper's. Needs both classes; otherwise ``ValueError``.
    """
    y = np.asarray(labels, dtype=int).reshape(-1)
    p = np.asarray(p_pnes, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"labels and p_pnes differ in length: {y.shape[0]} vs {p.shape[0]}")
    if not ((y == 0).any() and (y == 1).any()):
        raise ValueError("choosing a threshold needs validation videos of both classes")
    values = np.unique(p)
    candidates = np.concatenate([(values[:-1] + values[1:]) / 2, [ARGMAX_THRESHOLD]])
    candidates = np.concatenate([candidates, [values[0] - 1e-6, values[-1] + 1e-6]])
    scores = np.array([balanced_accuracy_at(y, p, t) for t in candidates])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - ARGMAX_THRESHOLD))]])


def remove_offsets(p_pnes: Sequence[float] | np.ndarray,
                   offsets: Sequence[float | None] | np.ndarray) -> np.ndarray:
    """``sigmoid(logit(p) - logit(offset))`` row by row: each p_PNES relative to an offset of its
    own (None or NaN: 0.5, no offset), so 0.5 is every offset and the order among the rows of
    one offset is unchanged.

    Pooled over LOSO folds, scores compare different models: a fold's offset (its training
    subjects' class balance, its calibration) moves all its scores together, and with one subject
    per fold that offset alone can rank the held-out patients (``loso.diagnose``: its "offsets
    removed" column)."""
    p = np.clip(np.asarray(p_pnes, dtype=np.float64).reshape(-1), 1e-7, 1 - 1e-7)
    t = np.array([ARGMAX_THRESHOLD if v is None or np.isnan(v) else v for v in
                  np.asarray(offsets, dtype=object).reshape(-1)], dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"p_pnes and offsets differ in length: {p.shape[0]} vs {t.shape[0]}")
    t = np.clip(t, 1e-7, 1 - 1e-7)
    logit = np.log(p / (1 - p)) - np.log(t / (1 - t))
    return 1.0 / (1.0 + np.exp(-logit))
