"""The one inference path: a trained classifier and a seizure DataModule -> window probabilities
(Lightning's test or predict loop) -> video probabilities (the mean of the window softmax, the
paper's test rule) -> the decision (``evaluation.decision.decide``).

:func:`predict_videos` is the only function that does this; a LOSO fold calls it for its
held-out subject, its inner validation subjects (the decision threshold, nested selection) and
its training subjects (``fold_scores.csv``), and ``+experiment=predict`` for new videos.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch

from seizure_lightning.constants import LABELS
from seizure_lightning.evaluation.aggregate import video_probabilities, windows_frame
from seizure_lightning.evaluation.decision import decide
from seizure_lightning.lightning_modules.classifier import ClassifierModule

#: where a classifier checkpoint keeps what ``predict`` needs besides the weights: the frames,
#: backbone and window settings of its inputs, and its fold's decision rule
CKPT_KEY = "seizure_lightning"
#: what :func:`predict_videos` can classify: the held-out subject (Lightning's test loop, with
#: the test metrics), the training or inner validation subjects, or every video of the
#: DataModule's predict loader (new videos)
PARTS = ("test", "train", "val", "all")


class VideoPredictions(NamedTuple):
    """``videos``: the DataModule's video table (``video_id, subject_id, label, frames, fps``)
    with ``p_ES``, ``p_PNES`` (mean window softmax), ``pred`` and ``n_windows``, one row per
    video; ``windows``: ``evaluation.aggregate.windows_frame`` rows (``start_s``/``end_s`` in
    seconds)."""

    videos: pd.DataFrame
    windows: pd.DataFrame


def predict_videos(
    trainer: pl.Trainer, module: ClassifierModule, datamodule: Any, part: str = "test", *,
    ckpt_path: str | None = None, threshold: float | None = None,
) -> VideoPredictions | None:
    """Classify the videos of ``part`` (``PARTS``) with ``module`` (or the weights of
    ``ckpt_path``): per-video probabilities and the decision at ``threshold`` (None: argmax).

    Every part's windows are taken at the test stride. None when the part has no windows (no
    inner validation subjects, say). Under DDP every rank must call it (a collective)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if part == "test":
        trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    elif part == "all":
        trainer.predict(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    else:
        loader = datamodule.part_dataloader(part)
        if not loader:
            return None
        trainer.predict(module, dataloaders=loader, ckpt_path=ckpt_path, weights_only=True)
    return _tables(module.window_predictions(), datamodule.videos, datamodule.window, threshold)


def _tables(windows: dict[str, torch.Tensor], videos: pd.DataFrame, window: int,
            threshold: float | None) -> VideoPredictions:
    """The per-video and per-window tables of the windows of one loop."""
    idx = windows["video_idx"].numpy()
    per_video = video_probabilities(windows["probs"], idx)
    order = sorted(per_video)
    probs = np.stack([per_video[i] for i in order]) if order else np.zeros((0, 2))
    table = videos.iloc[order].reset_index(drop=True).copy()
    table["p_ES"], table["p_PNES"] = probs[:, 0], probs[:, 1]
    table["pred"] = [LABELS[i] for i in decide(probs, threshold)]
    table["n_windows"] = np.bincount(idx, minlength=len(videos))[order] if order else []
    rows = videos.iloc[idx]
    start = windows["start"].numpy()
    n_frames = np.minimum(rows.frames.to_numpy() - start, window)
    per_window = windows_frame(
        rows.video_id, rows.subject_id, rows.label.fillna(""), windows["probs"],
        start_frame=start, n_frames=n_frames, fps=float(videos.fps.iloc[0]), window=window,
        fold=rows.subject_id.tolist(),
    )
    return VideoPredictions(table, per_window)
