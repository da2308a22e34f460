"""Writes the evaluation report of a predictions table or of a sweep's fold folders:
``metrics.json``, ``report.md`` and PNG plots; and the report's command line."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seizure_lightning.evaluation.aggregate import (
    PredictionsError,
    gather_fold_predictions,
    read_predictions,
    read_windows,
    validate_predictions,
    write_csv,
)
from seizure_lightning.evaluation.metrics import evaluate, subject_table
from seizure_lightning.report.format import figure_with_ci, fmt
from seizure_lightning.utils.io import atomic_write_json, atomic_write_text
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

HEADLINE = ("accuracy", "balanced_accuracy", "f1_es", "f1_pnes", "f1_macro", "mcc", "auroc")


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _load_predictions(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return validate_predictions(source)
    return read_predictions(source)


def _plots(
    predictions: pd.DataFrame, windows: pd.DataFrame | None, metrics: dict[str, Any], out_dir: Path,
    thresholds: dict[str, float] | None,
) -> dict[str, str]:
    from seizure_lightning.report import plots

    images = {}
    plots.plot_confusion(metrics["video"]["confusion"], out_dir / "confusion_matrix.png")
    images["confusion"] = "confusion_matrix.png"
    if (
        plots.plot_roc_pr(
            predictions,
            out_dir / "roc_pr.png",
            metrics["video"]["auroc"],
            metrics["video"]["auprc"],
        )
        is not None
    ):
        images["roc_pr"] = "roc_pr.png"
    plots.plot_subject_accuracy(subject_table(predictions), out_dir / "subject_accuracy.png")
    images["subject_accuracy"] = "subject_accuracy.png"
    if windows is not None and len(windows):
        _, shown, total = plots.plot_timelines(windows, predictions, out_dir / "timelines.png",
                                               thresholds=thresholds)
        images["timelines"] = "timelines.png"
        metrics["timelines"] = {"videos_shown": shown, "videos_with_windows": total}
    return images


def write_report(
    predictions_csv_or_df: str | os.PathLike | pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    windows: str | os.PathLike | pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json``, ``report.md``, ``subjects.csv`` and PNG plots into ``out_dir``.

    ``extra`` (e.g. ``folds`` status rows, ``folds_failed``, ``folds_missing``,
    ``pretrain_overlap``, ``model``) is stored under ``"extra"`` and shown in the report;
    ``thresholds`` (fold -> p_PNES decision threshold; 0.5 where absent) are drawn in the
    timelines. Returns the metrics dict as written (strict JSON: undefined figures are ``None``).
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    predictions = _load_predictions(predictions_csv_or_df)
    window_frame = read_windows(windows) if windows is not None else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = title or "ES vs PNES: leave-one-subject-out evaluation"
    metrics = evaluate(predictions, n_boot=n_boot, seed=seed)
    metrics = {"title": title, **metrics}
    if extra:
        metrics["extra"] = dict(extra)
    images = _plots(predictions, window_frame, metrics, out, thresholds)
    metrics["files"] = ["metrics.json", "report.md", "subjects.csv", *images.values()]
    metrics = _json_safe(metrics)

    from seizure_lightning.report.markdown import render_markdown

    write_csv(pd.DataFrame(metrics["per_subject"]), out / "subjects.csv")
    atomic_write_text(out / "report.md", render_markdown(metrics, images, title))
    atomic_write_json(out / "metrics.json", metrics)
    log.info("report written to %s", out)
    return metrics


def write_sweep_report(
    sweep_dir: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    expected_folds: Iterable[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Gather the fold folders of a sweep, write ``predictions.csv`` (+ ``windows.csv``,
    ``folds.csv``) into ``out_dir`` (default: the sweep folder) and the report beside them
    (``write_report``).

    Failed/missing folds are listed in ``extra`` (``folds``, ``folds_failed``, ``folds_missing``).
    """
    predictions, windows, status = gather_fold_predictions(sweep_dir, expected_folds)
    out = Path(out_dir) if out_dir is not None else Path(sweep_dir)
    write_csv(predictions, out / "predictions.csv")
    write_csv(status, out / "folds.csv")
    if windows is not None:
        write_csv(windows, out / "windows.csv")
    info = {
        "sweep_dir": str(sweep_dir),
        "folds_ok": int((status["status"] == "ok").sum()),
        "folds_failed": status.loc[
            status["status"].isin(["failed", "invalid", "incomplete"]), "fold"
        ].tolist(),
        "folds_missing": status.loc[status["status"] == "missing", "fold"].tolist(),
        **(extra or {}),
        "folds": status.drop(columns=["dir"]).to_dict(orient="records"),
    }
    return write_report(predictions, out, windows=windows, n_boot=n_boot, seed=seed, title=title,
                        extra=info, thresholds=thresholds)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seizure_lightning.report",
        description="Write metrics.json, report.md and PNG plots from a predictions CSV "
        "(video_id,subject_id,label,pred,p_ES,p_PNES[,fold]).",
    )
    parser.add_argument("predictions", type=Path, help="predictions CSV")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--windows", type=Path, default=None, help="per-window CSV for timelines")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (0 = no CIs)")
    parser.add_argument("--seed", type=int, default=42,
                        help="bootstrap seed (42: the sweep's default `seed`, so the same "
                             "predictions get the same CIs)")
    parser.add_argument("--title", default=None, help="report title")
    return parser


def _summary(metrics: dict[str, Any]) -> str:
    lines = [f"{level:8s} {name:18s} {figure_with_ci(metrics[level], name)}"
             for level in ("video", "subject") for name in HEADLINE]
    base = metrics["majority_baseline"]["video"]
    lines += [f"{'majority':8s} {name:18s} {fmt(base.get(name))}"
              for name in ("accuracy", "balanced_accuracy")]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on bad input)."""
    args = _parser().parse_args(argv)
    try:
        metrics = write_report(
            args.predictions,
            args.out,
            windows=args.windows,
            n_boot=args.n_boot,
            seed=args.seed,
            title=args.title,
        )
    except (PredictionsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(_summary(metrics))
    print(f"paper's F1 = f1_es (ES positive); report: {Path(args.out) / 'report.md'}")
    return 0
