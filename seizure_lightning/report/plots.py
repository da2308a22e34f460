"""PNG plots of a predictions table (matplotlib object API on the Agg canvas: no global state)."""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from seizure_lightning.constants import LABELS
from seizure_lightning.report.format import ci_bounds, fmt
from seizure_lightning.utils.io import atomic_write_bytes
from seizure_lightning.utils.naming import natural_key

COLORS = {"ES": "#1f77b4", "PNES": "#d62728"}
MAX_TIMELINES = 24


def _figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(path, buffer.getvalue())


def plot_confusion(confusion: list[list[int]], path: str | os.PathLike, title: str = "") -> Path:
    """Counts and row percentages; rows = true class, columns = predicted class."""
    cm = np.asarray(confusion, dtype=float)
    fig = _figure(4.2, 3.8)
    ax = fig.add_subplot()
    ax.imshow(cm / np.maximum(cm.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            share = cm[i, j] / cm[i].sum() if cm[i].sum() else float("nan")
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n({share:.0%})",
                ha="center",
                va="center",
                color="white" if share > 0.5 else "black",
                fontsize=12,
            )
    ax.set_xticks([0, 1], [f"pred {lab}" for lab in LABELS])
    ax.set_yticks([0, 1], [f"true {lab}" for lab in LABELS])
    ax.set_title(title or "Video-level confusion matrix")
    return _save(fig, Path(path))


def _curves(y: np.ndarray, p: np.ndarray):
    import torch
    from torchmetrics.functional.classification import binary_precision_recall_curve, binary_roc

    target, score = torch.tensor(y, dtype=torch.long), torch.tensor(p, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, _ = binary_roc(score, target)
        precision, recall, _ = binary_precision_recall_curve(score, target)
    return fpr.numpy(), tpr.numpy(), precision.numpy(), recall.numpy()


def plot_roc_pr(
    frame: pd.DataFrame, path: str | os.PathLike, auroc: float | None, auprc: float | None
) -> Path | None:
    """ROC and precision-recall curves of p_PNES (PNES positive); None with a single class."""
    y = (frame["label"] == LABELS[1]).to_numpy().astype(int)
    if y.min() == y.max():
        return None
    fpr, tpr, precision, recall = _curves(y, frame["p_PNES"].to_numpy(float))
    fig = _figure(8.5, 4.0)
    roc, pr = fig.subplots(1, 2)
    roc.plot(fpr, tpr, color=COLORS["PNES"], label=f"model (AUROC {fmt(auroc)})")
    roc.plot([0, 1], [0, 1], ls="--", color="grey", label="chance / majority (0.5)")
    roc.set(
        xlabel="1 - specificity (ES called PNES)",
        ylabel="sensitivity (PNES recall)",
        title="ROC, PNES positive",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    prevalence = y.mean()
    pr.step(
        recall, precision, where="post", color=COLORS["PNES"], label=f"model (AUPRC {fmt(auprc)})"
    )
    pr.axhline(prevalence, ls="--", color="grey", label=f"chance / majority ({prevalence:.3f})")
    pr.set(
        xlabel="recall (PNES)",
        ylabel="precision (PNES)",
        title="Precision-recall, PNES positive",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    for ax in (roc, pr):
        ax.legend(loc="lower right" if ax is roc else "upper right", fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def plot_subject_accuracy(subjects: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Per-patient share of correctly classified videos, coloured by the patient's label."""
    n = len(subjects)
    fig = _figure(min(max(6.0, 0.22 * n + 1.5), 40.0), 3.8)
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x, subjects["accuracy"], color=[COLORS[lab] for lab in subjects["label"]])
    if n <= 60:
        for xi, (acc, nv) in enumerate(zip(subjects["accuracy"], subjects["n_videos"])):
            ax.text(xi, acc + 0.02, str(int(nv)), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, subjects["subject_id"], rotation=90, fontsize=7 if n > 30 else 9)
    ax.set(
        ylim=(0, 1.12),
        ylabel="videos correct (share)",
        title="Per-subject video accuracy (numbers: videos per subject)",
    )
    ax.set_xlim(-0.6, n - 0.4)
    handles = [Patch(color=COLORS[lab], label=f"{lab} patient") for lab in LABELS]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    return _save(fig, Path(path))


def plot_timelines(
    windows: pd.DataFrame,
    predictions: pd.DataFrame,
    path: str | os.PathLike,
    max_videos: int = MAX_TIMELINES,
    thresholds: dict[str, float | None] | None = None,
) -> tuple[Path, int, int]:
    """Window-by-window p_PNES of each video (small multiples, misclassified videos first), with
    the decision line its fold used (``thresholds``: fold -> p_PNES threshold; 0.5 = argmax).

    Returns (path, videos shown, videos with windows).
    """
    thresholds = thresholds or {}
    video_pred = dict(zip(predictions["video_id"], predictions["pred"]))
    first = windows.groupby("video_id", sort=False)[["label", "subject_id"]].first()
    ids = sorted(
        first.index, key=lambda v: (video_pred.get(v) == first.at[v, "label"], natural_key(v))
    )
    shown = ids[:max_videos]
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    width, height = 3.2 * cols + 0.7, 2.1 * rows + 1.2
    fig = _figure(width, height, layout=None)  # fixed margins (inches): a constrained grid is slow
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.15 / width,
        bottom=0.6 / height,
        top=1 - 0.7 / height,
        hspace=0.5,
        wspace=0.12,
    )
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    for ax, vid in zip(axes, shown):
        w = windows[windows["video_id"] == vid].sort_values("start_s")
        label = str(first.at[vid, "label"])
        ax.hlines(w["p_PNES"], w["start_s"], w["end_s"], color=COLORS.get(label, "k"), alpha=0.35)
        ax.plot(
            (w["start_s"] + w["end_s"]) / 2, w["p_PNES"], "o-", ms=3, color=COLORS.get(label, "k")
        )
        fold = str(w["fold"].iloc[0]) if "fold" in w and len(w) else None
        line = thresholds.get(fold)
        ax.axhline(0.5 if line is None else line, ls="--", lw=0.8, color="grey")
        pred = video_pred.get(vid, "?")
        ax.set_title(
            f"{vid} ({first.at[vid, 'subject_id']}): {label}->{pred}",
            fontsize=8,
            color="black" if pred == label else "#b00000",
        )
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    fig.supxlabel("time in video (s)", fontsize=9)
    fig.supylabel("window p_PNES", fontsize=9)
    fig.suptitle(
        f"Per-window probability timelines ({len(shown)} of {len(ids)} videos, "
        "misclassified first; red title = misclassified; dashed: the fold's decision threshold)",
        fontsize=10,
    )
    return _save(fig, Path(path)), len(shown), len(ids)



def _interval_panel(ax, names: list[str], points: list[dict], *, reference: float,
                    title: str) -> None:
    """One row per name: the value with its 95% CI as a horizontal bar, a dashed line at
    ``reference``; green / red where the CI lies wholly above / below it."""
    y = np.arange(len(names))[::-1]
    for yi, point in zip(y, points, strict=True):
        value, (low, high) = point.get("value"), ci_bounds(point.get("ci"))
        if value is None:
            ax.text(reference, yi, "n/a", ha="center", va="center", fontsize=8, color="grey")
            continue
        color = "grey"
        if low is not None and high is not None:
            color = "#2ca02c" if low > reference else "#d62728" if high < reference else "#555555"
            ax.plot([low, high], [yi, yi], color=color, lw=2, solid_capstyle="butt")
        ax.plot([value], [yi], "o", color=color, ms=6)
        ax.annotate(fmt(value, signed=reference == 0), (value, yi), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7)
    ax.axvline(reference, ls="--", color="grey", lw=1)
    ax.set_yticks(y, names, fontsize=8)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def plot_sweep_summary(models: dict[str, dict], comparisons: list[dict] | None,
                       path: str | os.PathLike) -> Path:
    """The sweep at a glance: each model's video-level balanced accuracy and AUROC with their
    95% CIs (``models``: name -> ``metrics.json`` ``video``; best balanced accuracy on top, a
    line at chance, 0.5), and below, the paired differences A − B with their 95% CIs of the
    compared pairs (``comparisons.json`` ``comparisons``; a line at 0)."""
    names = sorted(models, key=lambda m: -(models[m].get("balanced_accuracy") or 0.0))
    pairs = list(comparisons or [])
    rows = [len(names)] + ([len(pairs)] if pairs else [])
    fig = _figure(9.0, 1.3 + 0.32 * sum(rows) + 0.9 * len(rows))
    grid = fig.subplots(len(rows), 2, squeeze=False, height_ratios=[r + 1.5 for r in rows])
    for ax, metric, label in zip(grid[0], ("balanced_accuracy", "auroc"),
                                 ("Balanced accuracy", "AUROC"), strict=True):
        points = [{"value": models[m].get(metric), "ci": (models[m].get("ci") or {}).get(metric)}
                  for m in names]
        _interval_panel(ax, names, points, reference=0.5, title=f"{label} [95% CI]")
        ax.set_xlim(-0.02, 1.02)
    if pairs:
        labels = [f"{c['a']} − {c['b']}" for c in pairs]
        for ax, metric, label in zip(grid[1], ("balanced_accuracy", "auroc"),
                                     ("balanced accuracy", "AUROC"), strict=True):
            points = [{"value": (c.get(metric) or {}).get("difference"),
                       "ci": (c.get(metric) or {}).get("ci")} for c in pairs]
            _interval_panel(ax, labels, points, reference=0.0,
                            title=f"Paired Δ {label}, A − B [95% CI]")
            reach = [abs(v) for p in points for v in (p["value"], *ci_bounds(p["ci"]))
                     if v is not None]
            ax.set_xlim(-1.1 * max(reach, default=0.05), 1.1 * max(reach, default=0.05))
    fig.suptitle("LOSO sweep, video level (95% CI: patient bootstrap; green / red: CI above / "
                 "below the dashed line)", fontsize=10)
    return _save(fig, Path(path))
