"""From window probabilities to video predictions, and from fold folders to one predictions table.

Contracts (docs/data_contract.md): predictions ``video_id,subject_id,label,pred,p_ES,p_PNES[,fold]``;
windows ``video_id,subject_id,label,window,start_s,end_s,p_ES,p_PNES,fold``; a fold folder
holds ``predictions.csv``, optionally ``windows.csv``, and ``status.json``
(``{"status": "ok"|"failed", "fold": subject, "error": "..."}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seizure_lightning.constants import FPS, LABELS, WINDOW
from seizure_lightning.evaluation.decision import decide
from seizure_lightning.utils.io import atomic_write_text
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.naming import natural_key, natural_sorted

log = get_logger(__name__)

PREDICTION_COLUMNS: tuple[str, ...] = ("video_id", "subject_id", "label", "pred", "p_ES", "p_PNES")
WINDOW_COLUMNS: tuple[str, ...] = (
    "video_id",
    "subject_id",
    "label",
    "window",
    "start_s",
    "end_s",
    "p_ES",
    "p_PNES",
    "fold",
)
STATUS_COLUMNS: tuple[str, ...] = ("fold", "status", "n_videos", "error", "dir")
PROB_SUM_TOLERANCE = 1e-2


class PredictionsError(ValueError):
    """A predictions/windows table breaks its contract; the message lists every problem found."""


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def video_probabilities(
    window_probs: Any, video_idx: Any, *, from_logits: bool = False
) -> dict[int, np.ndarray]:
    """Mean of the window softmax over each video's windows (paper's test rule).

    ``window_probs``: [N, C] probabilities (or logits with ``from_logits=True``), tensor or array;
    ``video_idx``: [N] integer video index of each window. Returns ``{video_idx: probs[C]}`` in
    ascending index order (``np.stack(list(d.values()))`` gives a [V, C] array).
    """
    probs = _to_numpy(window_probs).astype(np.float64)
    idx = _to_numpy(video_idx).reshape(-1)
    if probs.ndim != 2 or probs.shape[0] != idx.shape[0]:
        raise ValueError(
            f"window_probs must be [N, C] with N = len(video_idx); got {probs.shape}, {idx.shape}"
        )
    if from_logits:
        probs = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    elif probs.size and (
        probs.min() < 0 or probs.max() > 1 or np.abs(probs.sum(axis=1) - 1).max() > 1e-3
    ):
        raise ValueError(
            "window_probs are not probabilities (rows must sum to 1); pass from_logits=True"
        )
    videos, inverse = np.unique(idx, return_inverse=True)
    sums = np.zeros((videos.size, probs.shape[1]))
    np.add.at(sums, inverse, probs)
    means = sums / np.bincount(inverse, minlength=videos.size)[:, None]
    return {int(v): means[i] for i, v in enumerate(videos)}


def _label_strings(labels: Any) -> list[str]:
    """Labels as ``"ES"/"PNES"``: strings are upper-cased, class indices (0/1) mapped."""
    values = _to_numpy(labels).reshape(-1).tolist() if hasattr(labels, "shape") else list(labels)
    out = []
    for value in values:
        text = str(value).strip()
        out.append(
            LABELS[int(text)] if text.isdigit() and int(text) < len(LABELS) else text.upper()
        )
    return out


def _fold_column(fold: Any, n: int) -> list[str] | None:
    if fold is None:
        return None
    if isinstance(fold, str) or np.ndim(fold) == 0:
        return [str(fold)] * n
    values = [str(f) for f in fold]
    if len(values) != n:
        raise ValueError(f"fold has {len(values)} entries for {n} rows")
    return values


def predictions_frame(
    video_ids: Sequence[Any],
    subject_ids: Sequence[Any],
    labels: Sequence[Any],
    probs: Any,
    *,
    fold: str | Sequence[str] | None = None,
    threshold: float | None = None,
) -> pd.DataFrame:
    """Video predictions in the contract's columns; ``pred`` = argmax (``ES`` on an exact tie),
    or PNES where ``p_PNES > threshold`` when a threshold is given (0.5 = argmax).

    ``labels`` are ``"ES"/"PNES"`` or class indices; ``probs`` is [V, 2] (p_ES, p_PNES).
    """
    p = _to_numpy(probs).astype(np.float64)
    n = len(video_ids)
    if p.shape != (n, 2):
        raise ValueError(f"probs must be [{n}, 2], got {p.shape}")
    frame = pd.DataFrame(
        {
            "video_id": [str(v) for v in video_ids],
            "subject_id": [str(s) for s in subject_ids],
            "label": _label_strings(labels),
            "pred": [LABELS[int(i)] for i in decide(p, threshold)],
            "p_ES": p[:, 0],
            "p_PNES": p[:, 1],
        }
    )
    folds = _fold_column(fold, n)
    if folds is not None:
        frame["fold"] = folds
    return validate_predictions(frame)


def windows_frame(
    video_ids: Sequence[Any],
    subject_ids: Sequence[Any],
    labels: Sequence[Any],
    probs: Any,
    *,
    start_frame: Sequence[int] | Any,
    n_frames: Sequence[int] | Any | None = None,
    fps: float = FPS,
    window: int = WINDOW,
    fold: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Window predictions for timelines, one row per window (WINDOW_COLUMNS).

    ``start_frame`` is the window's first frame in the video (at ``fps``); ``n_frames`` its number
    of real (non-pad) frames, ``window`` when omitted. ``window`` numbers windows 0.. per video in
    time order.
    """
    p = _to_numpy(probs).astype(np.float64)
    n = len(video_ids)
    if p.shape != (n, 2):
        raise ValueError(f"probs must be [{n}, 2], got {p.shape}")
    start = _to_numpy(start_frame).reshape(-1).astype(np.float64)
    length = np.full(n, float(window)) if n_frames is None else _to_numpy(n_frames).reshape(-1)
    frame = pd.DataFrame(
        {
            "video_id": [str(v) for v in video_ids],
            "subject_id": [str(s) for s in subject_ids],
            "label": _label_strings(labels),
            "start_s": start / fps,
            "end_s": (start + length) / fps,
            "p_ES": p[:, 0],
            "p_PNES": p[:, 1],
        }
    )
    frame["fold"] = _fold_column(fold, n) or frame["subject_id"].tolist()
    frame = frame.sort_values(["video_id", "start_s"], kind="stable")
    frame["window"] = frame.groupby("video_id", sort=False).cumcount()
    return frame[list(WINDOW_COLUMNS)].reset_index(drop=True)


def _csv_row(position: int) -> int:
    """Row number as a user sees it in the CSV (header = row 1)."""
    return position + 2


def _shown(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def validate_predictions(frame: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """Check the predictions contract; return a normalised copy (ids as str, labels upper-case).

    Raises :class:`PredictionsError` listing every problem with its CSV row number.
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise PredictionsError(
            f"{source}: missing column(s) {', '.join(missing)}; expected "
            f"{','.join(PREDICTION_COLUMNS)}[,fold]"
        )
    df = frame.reset_index(drop=True).copy()
    problems: list[str] = []
    for col in ("video_id", "subject_id"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else str(v).strip())
        for i in np.flatnonzero(df[col].to_numpy() == ""):
            problems.append(f"row {_csv_row(i)}: empty {col}")
    for col in ("label", "pred"):
        df[col] = df[col].map(lambda v: "" if pd.isna(v) else str(v).strip().upper())
        for i in np.flatnonzero(~df[col].isin(LABELS).to_numpy()):
            problems.append(
                f"row {_csv_row(i)} (video {df['video_id'][i]!r}): unknown {col} "
                f"{_shown(frame[col].iloc[i])!r} (expected ES or PNES)"
            )
    for col in ("p_ES", "p_PNES"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
        bad = df[col].isna() | (df[col] < 0) | (df[col] > 1)
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(
                f"row {_csv_row(i)} (video {df['video_id'][i]!r}): {col} "
                f"{_shown(frame[col].iloc[i])!r} is not a probability in [0, 1]"
            )
    off = (df["p_ES"] + df["p_PNES"] - 1).abs() > PROB_SUM_TOLERANCE
    for i in np.flatnonzero(off.to_numpy()):
        problems.append(f"row {_csv_row(i)} (video {df['video_id'][i]!r}): p_ES + p_PNES != 1")
    dup = df["video_id"].duplicated(keep=False) & (df["video_id"] != "")
    for vid, rows in df[dup].groupby("video_id").groups.items():
        where = ", ".join(str(_csv_row(r)) for r in rows)
        problems.append(f"rows {where}: duplicate video_id {vid!r}")
    if "fold" in df.columns:
        df["fold"] = df["fold"].map(lambda v: "" if pd.isna(v) else str(v).strip())
    if problems:
        raise PredictionsError(f"{source}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    if df.empty:
        raise PredictionsError(f"{source}: no predictions")
    return df


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate a predictions CSV (errors name the file and the row)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    frame = pd.read_csv(path, dtype={"video_id": str, "subject_id": str, "fold": str})
    return validate_predictions(frame, source=str(path))


def read_windows(path_or_frame: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a windows CSV (or check a frame): required columns, ids as str, numeric times/probs."""
    if isinstance(path_or_frame, pd.DataFrame):
        frame, source = path_or_frame.copy(), "windows"
    else:
        source = str(path_or_frame)
        frame = pd.read_csv(path_or_frame, dtype={"video_id": str, "subject_id": str, "fold": str})
    required = [c for c in WINDOW_COLUMNS if c != "fold"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise PredictionsError(f"{source}: missing column(s) {', '.join(missing)}")
    for col in ("video_id", "subject_id"):
        frame[col] = frame[col].astype(str).str.strip()
    frame["label"] = frame["label"].astype(str).str.strip().str.upper()
    for col in ("window", "start_s", "end_s", "p_ES", "p_PNES"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
        if frame[col].isna().any():
            row = _csv_row(int(np.flatnonzero(frame[col].isna().to_numpy())[0]))
            raise PredictionsError(f"{source}: row {row}: {col} is not a number")
    return frame


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as CSV atomically (no index)."""
    return atomic_write_text(path, frame.to_csv(index=False))


def _read_status(path: Path) -> dict[str, Any]:
    try:
        status = json.loads(path.read_text())
        if not isinstance(status, dict):
            raise ValueError("not a JSON object")
        return status
    except (OSError, ValueError) as err:
        return {"status": "invalid", "error": f"unreadable status.json: {err}"}


def _fold_dirs(sweep_dir: Path) -> list[Path]:
    found = set()
    for name in ("status.json", "predictions.csv"):
        for path in sweep_dir.rglob(name):
            rel = path.parent.relative_to(sweep_dir)
            if path.parent != sweep_dir and not any(p.startswith(".") for p in rel.parts):
                found.add(path.parent)
    return sorted(found, key=lambda p: natural_key(str(p.relative_to(sweep_dir))))


def _inspect_fold(
    fold_dir: Path,
) -> tuple[dict[str, Any], pd.DataFrame | None, pd.DataFrame | None]:
    """One fold folder -> (status row, predictions or None, windows or None)."""
    status_path, pred_path = fold_dir / "status.json", fold_dir / "predictions.csv"
    status = _read_status(status_path) if status_path.is_file() else {}
    state = str(status.get("status", "ok" if pred_path.is_file() else "incomplete"))
    row = {
        "fold": status.get("fold"),
        "status": state,
        "n_videos": 0,
        "error": status.get("error") or "",
        "dir": str(fold_dir),
    }
    preds = windows = None
    if state == "ok":
        if not pred_path.is_file():
            row.update(status="incomplete", error="status is ok but predictions.csv is missing")
        else:
            try:
                preds = read_predictions(pred_path)
            except (PredictionsError, ValueError, OSError) as err:
                row.update(status="invalid", error=str(err))
    if preds is not None:
        if row["fold"] is None:
            folds = preds["fold"].unique().tolist() if "fold" in preds else []
            subjects = preds["subject_id"].unique().tolist()
            row["fold"] = (
                folds if len(folds) == 1 else subjects if len(subjects) == 1 else [fold_dir.name]
            )[0]
        preds["fold"] = str(row["fold"])
        row["n_videos"] = len(preds)
        if (fold_dir / "windows.csv").is_file():
            try:
                windows = read_windows(fold_dir / "windows.csv")
                windows["fold"] = str(row["fold"])
            except (PredictionsError, ValueError, OSError) as err:  # timelines only: keep the fold
                log.warning("%s: windows.csv ignored: %s", fold_dir, err)
    row["fold"] = str(row["fold"]) if row["fold"] is not None else fold_dir.name
    return row, preds, windows


def gather_fold_predictions(
    sweep_dir: str | os.PathLike, expected_folds: Iterable[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Collect every fold folder under ``sweep_dir`` into one predictions table.

    Returns ``(predictions, windows or None, status)``; ``status`` has one row per fold
    (STATUS_COLUMNS; status ``ok``, ``failed``, ``invalid``, ``incomplete`` or ``missing`` for an
    ``expected_folds`` entry with no folder). A fold that failed once and succeeded on a re-run is
    ``ok``. Raises :class:`PredictionsError` when no fold has predictions, or when two folders hold
    successful predictions of the same fold.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep folder not found: {sweep_dir}")
    best: dict[str, tuple[dict[str, Any], pd.DataFrame | None, pd.DataFrame | None]] = {}
    for fold_dir in _fold_dirs(sweep_dir):
        row, preds, windows = _inspect_fold(fold_dir)
        prior = best.get(row["fold"])
        if prior is not None and prior[1] is not None and preds is not None:
            raise PredictionsError(
                f"fold {row['fold']!r} has predictions in two folders: "
                f"{prior[0]['dir']} and {row['dir']}"
            )
        if prior is None or preds is not None:
            best[row["fold"]] = (row, preds, windows)
    for fold in expected_folds or ():
        best.setdefault(
            str(fold),
            (
                {
                    "fold": str(fold),
                    "status": "missing",
                    "n_videos": 0,
                    "error": "no fold folder",
                    "dir": "",
                },
                None,
                None,
            ),
        )
    order = natural_sorted(best)
    status = pd.DataFrame([best[f][0] for f in order], columns=list(STATUS_COLUMNS))
    for _, r in status[status["status"] != "ok"].iterrows():
        log.warning("fold %s: %s %s", r["fold"], r["status"], r["error"])
    parts = [best[f][1] for f in order if best[f][1] is not None]
    if not parts:
        raise PredictionsError(
            f"{sweep_dir}: no fold has predictions ({len(order)} fold folder(s))"
        )
    predictions = validate_predictions(pd.concat(parts, ignore_index=True), source=str(sweep_dir))
    win_parts = [best[f][2] for f in order if best[f][2] is not None]
    windows = pd.concat(win_parts, ignore_index=True) if win_parts else None
    return predictions, windows, status
