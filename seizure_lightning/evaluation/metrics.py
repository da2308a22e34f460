"""Classification figures of a predictions table: video level, subject level, bootstrap CIs.

Class indices: ES = 0, PNES = 1. Which class is "positive" is in each name:
``f1_es``/``precision_es``/``recall_es`` treat ES as positive (``f1_es`` is the paper's F1),
``*_pnes`` treat PNES as positive; ``sensitivity`` = ``recall_pnes`` and ``specificity`` =
``recall_es`` (PNES is the detected class); ``auroc``, ``auprc`` and ``brier`` score ``p_PNES``
against PNES. The confusion matrix is ``[[ES->ES, ES->PNES], [PNES->ES, PNES->PNES]]`` (rows =
true class, columns = predicted class). An undefined figure (e.g. AUROC with one class) is NaN
with a note, never an exception.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from seizure_lightning.constants import LABEL_TO_INDEX, LABELS
from seizure_lightning.utils.naming import natural_key

METRICS: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "f1_es",
    "f1_pnes",
    "f1_macro",
    "precision_es",
    "recall_es",
    "precision_pnes",
    "recall_pnes",
    "sensitivity",
    "specificity",
    "mcc",
    "auroc",
    "auprc",
    "brier",
)
PAPER_F1 = "f1_es"
POSITIVE_CLASS: dict[str, str] = {
    "f1_es": "ES",
    "precision_es": "ES",
    "recall_es": "ES",
    "f1_pnes": "PNES",
    "precision_pnes": "PNES",
    "recall_pnes": "PNES",
    "sensitivity": "PNES (sensitivity = recall_pnes)",
    "specificity": "PNES (specificity = recall_es)",
    "auroc": "PNES (scored by p_PNES)",
    "auprc": "PNES (scored by p_PNES)",
    "brier": "PNES (squared error of p_PNES)",
    "f1_macro": "mean of f1_es and f1_pnes",
    "balanced_accuracy": "mean of recall_es and recall_pnes",
}
CONFUSION_LAYOUT = "[[ES->ES, ES->PNES], [PNES->ES, PNES->PNES]] (rows true, columns predicted)"
SUBJECT_RULE = (
    "one row per patient: label = majority of the patient's video labels; pred = majority vote of "
    "the video predictions (a tie goes to mean p_PNES > 0.5); p_PNES = mean p_PNES of the videos"
)
MAJORITY_RULE = (
    "majority-class baseline: each video is predicted the majority class of its LOSO fold's "
    "training videos (all videos of the other folds); p_PNES = the PNES share of all videos, a "
    "constant no-skill score (AUROC 0.5; a per-fold prior would be anti-correlated with the "
    "held-out label under LOSO and give a spurious AUROC below 0.5)"
)


def as_class_index(values: Any) -> np.ndarray:
    """``"ES"/"PNES"`` strings (any case) or 0/1 integers -> int64 array of class indices."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values).reshape(-1)
    if arr.dtype.kind in "OUS":
        try:
            return np.array([LABEL_TO_INDEX[str(v).strip().upper()] for v in arr], dtype=np.int64)
        except KeyError as err:
            raise ValueError(f"unknown label {err.args[0]!r} (expected one of {LABELS})") from None
    out = arr.astype(np.int64)
    if out.size and ((out < 0).any() or (out > 1).any() or (out != arr).any()):
        raise ValueError("class indices must be 0 (ES) or 1 (PNES)")
    return out


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _ranking_figures(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted AUROC and average precision (PNES positive) for each row of ``w`` [B, V]."""
    order = np.argsort(p, kind="stable")
    p_sorted, y_sorted, w_sorted = p[order], y[order], w[:, order]
    starts = np.r_[0, np.flatnonzero(np.diff(p_sorted)) + 1]
    pos = np.add.reduceat(w_sorted * y_sorted, starts, axis=1)  # [B, G] ascending score
    neg = np.add.reduceat(w_sorted * (1 - y_sorted), starts, axis=1)
    tot_pos, tot_neg = pos.sum(axis=1), neg.sum(axis=1)
    auroc = _div((pos * (np.cumsum(neg, axis=1) - 0.5 * neg)).sum(axis=1), tot_pos * tot_neg)
    pos_d, neg_d = pos[:, ::-1], neg[:, ::-1]
    tp, fp = np.cumsum(pos_d, axis=1), np.cumsum(neg_d, axis=1)
    precision = np.nan_to_num(_div(tp, tp + fp))
    auprc = _div((pos_d * precision).sum(axis=1), tot_pos)
    auprc[tot_neg == 0] = np.nan  # one class only: undefined, like AUROC
    return auroc, auprc


def weighted_figures(
    y: np.ndarray, pred: np.ndarray, p_pnes: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """All METRICS for each row of ``weights`` [B, V] (sample multiplicities), vectorised.

    The bootstrap's engine; with ``weights = ones((1, V))`` it gives the plain figures.
    """
    y, pred = y.astype(float), pred.astype(float)
    w = np.atleast_2d(np.asarray(weights, float))
    a = w @ ((1 - y) * (1 - pred))  # ES -> ES
    b = w @ ((1 - y) * pred)  # ES -> PNES
    c = w @ (y * (1 - pred))  # PNES -> ES
    d = w @ (y * pred)  # PNES -> PNES
    n = a + b + c + d
    out: dict[str, np.ndarray] = {"accuracy": _div(a + d, n)}
    out["recall_es"], out["recall_pnes"] = _div(a, a + b), _div(d, c + d)
    out["precision_es"], out["precision_pnes"] = _div(a, a + c), _div(d, b + d)
    out["balanced_accuracy"] = (out["recall_es"] + out["recall_pnes"]) / 2
    out["f1_es"], out["f1_pnes"] = _div(2 * a, 2 * a + b + c), _div(2 * d, 2 * d + b + c)
    out["f1_macro"] = (out["f1_es"] + out["f1_pnes"]) / 2
    out["sensitivity"], out["specificity"] = out["recall_pnes"], out["recall_es"]
    both = (a + b > 0) & (c + d > 0)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    mcc = _div(a * d - b * c, np.sqrt(den))
    out["mcc"] = np.where(both & (den == 0), 0.0, np.where(both, mcc, np.nan))
    out["brier"] = _div(w @ (p_pnes - y) ** 2, n)
    out["auroc"], out["auprc"] = _ranking_figures(y, p_pnes.astype(float), w)
    return {k: out[k] for k in METRICS}


def _torchmetrics_figures(y: np.ndarray, pred: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Confusion matrix, MCC, AUROC and AUPRC from torchmetrics (call only when defined)."""
    import torch
    from torchmetrics.functional.classification import (
        binary_auroc,
        binary_average_precision,
        binary_confusion_matrix,
        binary_matthews_corrcoef,
    )

    target, hard = torch.tensor(y, dtype=torch.long), torch.tensor(pred, dtype=torch.long)
    score = torch.tensor(p, dtype=torch.float64)
    out: dict[str, Any] = {"confusion": binary_confusion_matrix(hard, target).tolist()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if y.min() != y.max():
            out["auroc"] = float(binary_auroc(score, target))
            out["auprc"] = float(binary_average_precision(score, target))
            if pred.min() != pred.max():
                out["mcc"] = float(binary_matthews_corrcoef(hard, target))
    return out


def binary_figures(labels: Any, preds: Any, p_pnes: Sequence[float] | Any) -> dict[str, Any]:
    """Point figures (METRICS), ``confusion``, counts and ``notes`` on undefined figures."""
    y, pred = as_class_index(labels), as_class_index(preds)
    p = np.asarray(p_pnes, dtype=float).reshape(-1)
    if not len(y) == len(pred) == len(p) or len(y) == 0:
        raise ValueError(
            "labels, preds, p_pnes need one equal, non-zero length; "
            f"got {len(y)}, {len(pred)}, {len(p)}"
        )
    figures: dict[str, Any] = {
        k: float(v[0]) for k, v in weighted_figures(y, pred, p, np.ones((1, len(y)))).items()
    }
    figures.update(_torchmetrics_figures(y, pred, p))
    figures["n"] = len(y)
    figures["n_per_class"] = {lab: int((y == i).sum()) for i, lab in enumerate(LABELS)}
    figures["notes"] = _notes(y, pred, figures)
    return figures


def _notes(y: np.ndarray, pred: np.ndarray, figures: dict[str, Any]) -> list[str]:
    notes = []
    for i, lab in enumerate(LABELS):
        if not (y == i).any():
            notes.append(
                f"no true {lab}: AUROC, AUPRC, MCC, balanced accuracy and "
                f"recall_{lab.lower()} are undefined (NaN)"
            )
        if not (pred == i).any():
            notes.append(f"nothing predicted {lab}: precision_{lab.lower()} is undefined (NaN)")
    if len(set(y.tolist())) == 2 and len(set(pred.tolist())) == 1:
        notes.append("a single predicted class: MCC set to 0 (zero denominator)")
    return notes


def subject_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-patient rows (see ``SUBJECT_RULE``).

    Columns: subject_id, label, pred, p_PNES, n_videos, n_correct, accuracy, mixed_labels.
    """
    df = frame.assign(
        _y=as_class_index(frame["label"]),
        _pred=as_class_index(frame["pred"]),
        _p=frame["p_PNES"].astype(float),
    )
    df["_ok"] = (df["_y"] == df["_pred"]).astype(int)
    grouped = df.groupby("subject_id", sort=False)
    table = pd.DataFrame(
        {
            "n_videos": grouped.size(),
            "n_pnes_videos": grouped["_y"].sum(),
            "n_pnes_preds": grouped["_pred"].sum(),
            "n_correct": grouped["_ok"].sum(),
            "p_PNES": grouped["_p"].mean(),
        }
    )
    half = table["n_videos"] / 2
    label = np.where(table["n_pnes_videos"] > half, 1, 0)  # label tie -> ES (LABELS order)
    vote = np.where(table["n_pnes_preds"] > half, 1, np.where(table["n_pnes_preds"] < half, 0, -1))
    pred = np.where(vote >= 0, vote, (table["p_PNES"] > 0.5).astype(int))
    table["label"] = [LABELS[i] for i in label]
    table["pred"] = [LABELS[i] for i in pred]
    table["accuracy"] = table["n_correct"] / table["n_videos"]
    table["mixed_labels"] = (table["n_pnes_videos"] > 0) & (
        table["n_pnes_videos"] < table["n_videos"]
    )
    table = table.reset_index().rename(columns={"index": "subject_id"})
    table = table.iloc[sorted(range(len(table)), key=lambda i: natural_key(table["subject_id"][i]))]
    cols = [
        "subject_id",
        "label",
        "pred",
        "p_PNES",
        "n_videos",
        "n_correct",
        "accuracy",
        "mixed_labels",
    ]
    return table[cols].reset_index(drop=True)


def majority_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """The majority-class baseline's predictions (see ``MAJORITY_RULE``); same columns as ``frame``.

    The held-out group of a video is its ``fold`` (when present) or its ``subject_id``; with a
    single group the whole table's majority is used.
    """
    y = as_class_index(frame["label"])
    group = (
        (frame["fold"] if "fold" in frame.columns else frame["subject_id"]).astype(str).to_numpy()
    )
    n_total, pnes_total = len(y), int(y.sum())
    train_share = np.empty(len(y))
    for g in np.unique(group):
        member = group == g
        n_train = n_total - member.sum()
        pnes_train = pnes_total - y[member].sum()
        train_share[member] = pnes_train / n_train if n_train > 0 else pnes_total / n_total
    out = frame.copy()
    out["pred"] = np.where(train_share > 0.5, LABELS[1], LABELS[0])
    out["p_PNES"] = pnes_total / n_total
    out["p_ES"] = 1 - out["p_PNES"]
    return out


def cluster_weights(groups: Sequence[Any], n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, N] multiplicities of the N rows when whole groups (patients) are resampled."""
    _, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = int(index.max()) + 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    flat = draws + n_groups * np.arange(n_boot)[:, None]
    counts = np.bincount(flat.ravel(), minlength=n_boot * n_groups).reshape(n_boot, n_groups)
    return counts[:, index].astype(float)


def bootstrap_ci(
    labels: Any,
    preds: Any,
    p_pnes: Any,
    groups: Sequence[Any],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float | int | None]]:
    """Percentile CIs of METRICS, resampling ``groups`` (patients) with replacement.

    Replicates where a figure is undefined (e.g. one class drawn) are left out; ``n_valid``
    counts the rest. Deterministic in ``seed``.
    """
    y, pred = as_class_index(labels), as_class_index(preds)
    p = np.asarray(p_pnes, dtype=float).reshape(-1)
    reps = weighted_figures(y, pred, p, cluster_weights(groups, n_boot, seed))
    tail = 100 * (1 - level) / 2
    out: dict[str, dict[str, float | int | None]] = {}
    for name, values in reps.items():
        valid = values[~np.isnan(values)]
        low, high = np.percentile(valid, [tail, 100 - tail]) if valid.size else (None, None)
        out[name] = {"low": _num(low), "high": _num(high), "n_valid": int(valid.size)}
    return out


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def level_figures(
    labels: Any, preds: Any, p_pnes: Any, groups: Sequence[Any], *, n_boot: int, seed: int
) -> dict[str, Any]:
    """binary_figures plus ``ci`` (clustered bootstrap over ``groups``; omitted if n_boot == 0)."""
    figures = binary_figures(labels, preds, p_pnes)
    if n_boot > 0:
        figures["ci"] = bootstrap_ci(labels, preds, p_pnes, groups, n_boot=n_boot, seed=seed)
    return figures


def evaluate(frame: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Every figure of a validated predictions table (see ``aggregate.validate_predictions``).

    Video level and subject level, each with patient-clustered bootstrap CIs, the majority
    baseline at both levels, counts and the per-subject table.
    """
    subjects = subject_table(frame)
    baseline = majority_baseline(frame)
    base_subjects = subject_table(baseline)
    video_args = (frame["subject_id"].to_numpy(),)
    return {
        "paper_f1": PAPER_F1,
        "positive_class": POSITIVE_CLASS,
        "confusion_layout": CONFUSION_LAYOUT,
        "counts": {
            "n_videos": len(frame),
            "n_subjects": len(subjects),
            "videos_per_class": {lab: int((frame["label"] == lab).sum()) for lab in LABELS},
            "subjects_per_class": {lab: int((subjects["label"] == lab).sum()) for lab in LABELS},
            "subjects_with_mixed_labels": subjects.loc[
                subjects["mixed_labels"], "subject_id"
            ].tolist(),
            "n_folds": int(frame["fold"].nunique()) if "fold" in frame.columns else len(subjects),
        },
        "bootstrap": {
            "n_boot": n_boot,
            "seed": seed,
            "level": 0.95,
            "method": "percentile",
            "resampled": "patients (clustered: all videos of a drawn patient)",
        },
        "video": level_figures(
            frame["label"], frame["pred"], frame["p_PNES"], *video_args, n_boot=n_boot, seed=seed
        ),
        "subject": {
            "rule": SUBJECT_RULE,
            **level_figures(
                subjects["label"],
                subjects["pred"],
                subjects["p_PNES"],
                subjects["subject_id"],
                n_boot=n_boot,
                seed=seed,
            ),
        },
        "majority_baseline": {
            "rule": MAJORITY_RULE,
            "video": level_figures(
                baseline["label"],
                baseline["pred"],
                baseline["p_PNES"],
                *video_args,
                n_boot=n_boot,
                seed=seed,
            ),
            "subject": level_figures(
                base_subjects["label"],
                base_subjects["pred"],
                base_subjects["p_PNES"],
                base_subjects["subject_id"],
                n_boot=n_boot,
                seed=seed,
            ),
        },
        "per_subject": subjects.to_dict(orient="records"),
    }


PAIRED_METRICS: tuple[str, ...] = ("balanced_accuracy", "auroc")
PAIRED_RULE = (
    "paired patient bootstrap: each replicate resamples patients with replacement once and "
    "scores both models on that same resample (all videos of a drawn patient); the CI is the "
    "percentile interval of the replicates' a - b; p_le_0 = share of replicates with a - b <= 0"
)


def _paired_table(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """``a`` and ``b`` joined on ``video_id`` (columns y, subject_id, pred_a/p_a, pred_b/p_b)."""
    needed = ("video_id", "subject_id", "label", "pred", "p_PNES")
    sides = {}
    for side, frame in (("a", a), ("b", b)):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"predictions {side}: missing column(s) {', '.join(missing)}")
        df = pd.DataFrame(
            {
                "video_id": frame["video_id"].astype(str).str.strip().to_numpy(),
                "subject_id": frame["subject_id"].astype(str).str.strip().to_numpy(),
                "y": as_class_index(frame["label"]),
                "pred": as_class_index(frame["pred"]),
                "p": frame["p_PNES"].astype(float).to_numpy(),
            }
        )
        dup = sorted(set(df.loc[df["video_id"].duplicated(), "video_id"]), key=natural_key)
        if dup:
            raise ValueError(f"predictions {side}: duplicated video_id(s) {_few(dup)}")
        if len(df) == 0:
            raise ValueError(f"predictions {side}: no videos")
        sides[side] = df
    only_a = sorted(set(sides["a"]["video_id"]) - set(sides["b"]["video_id"]), key=natural_key)
    only_b = sorted(set(sides["b"]["video_id"]) - set(sides["a"]["video_id"]), key=natural_key)
    if only_a or only_b:
        parts = [f"only in a: {_few(only_a)}" if only_a else "",
                 f"only in b: {_few(only_b)}" if only_b else ""]
        raise ValueError(
            "paired comparison needs the same videos in both predictions tables; "
            + "; ".join(p for p in parts if p)
        )
    joined = sides["a"].merge(sides["b"], on="video_id", suffixes=("_a", "_b"))
    for col, what in (("y", "label"), ("subject_id", "subject_id")):
        differ = joined.loc[joined[f"{col}_a"] != joined[f"{col}_b"], "video_id"].tolist()
        if differ:
            raise ValueError(
                f"paired comparison: the two tables give different {what}s for video(s) "
                f"{_few(sorted(differ, key=natural_key))}"
            )
    return joined.rename(columns={"y_a": "y", "subject_id_a": "subject_id"})


def _few(items: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(repr(str(v)) for v in items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def paired_difference(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    metrics: Sequence[str] = PAIRED_METRICS,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Video-level ``a - b`` of each of ``metrics`` with a paired patient-bootstrap CI.

    ``a`` and ``b`` are predictions tables of two models on the same videos (joined on
    ``video_id``; a ValueError names the videos when the sets, labels or subjects differ).
    Each replicate draws patients (``subject_id``) once (``cluster_weights``) and scores both
    models on that resample (``weighted_figures``), see ``PAIRED_RULE``. Returns, per metric,
    ``{"a", "b", "difference", "ci": [low, high], "p_le_0", "n_valid"}`` (undefined values
    None; replicates where either figure is undefined are left out), plus ``n_videos``,
    ``n_subjects``, ``n_boot``, ``seed``, ``level``, ``rule``. Deterministic in ``seed``.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown} (expected some of {METRICS})")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    joined = _paired_table(a, b)
    y, groups = joined["y"].to_numpy(), joined["subject_id"].to_numpy()
    weights = np.ones((1, len(joined)))
    if n_boot > 0:
        weights = np.vstack([weights, cluster_weights(groups, n_boot, seed)])
    fig_a = weighted_figures(y, joined["pred_a"].to_numpy(), joined["p_a"].to_numpy(), weights)
    fig_b = weighted_figures(y, joined["pred_b"].to_numpy(), joined["p_b"].to_numpy(), weights)
    tail = 100 * (1 - level) / 2
    out: dict[str, Any] = {}
    for name in metrics:
        reps = fig_a[name][1:] - fig_b[name][1:]
        valid = reps[~np.isnan(reps)]
        low, high = np.percentile(valid, [tail, 100 - tail]) if valid.size else (None, None)
        out[name] = {
            "a": _num(fig_a[name][0]),
            "b": _num(fig_b[name][0]),
            "difference": _num(fig_a[name][0] - fig_b[name][0]),
            "ci": [_num(low), _num(high)],
            "p_le_0": float((valid <= 0).mean()) if valid.size else None,
            "n_valid": int(valid.size),
        }
    out.update(
        n_videos=len(joined),
        n_subjects=len(np.unique(groups)),
        n_boot=n_boot,
        seed=seed,
        level=level,
        rule=PAIRED_RULE,
    )
    return out
