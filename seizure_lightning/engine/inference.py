"""The one inference path: a trained classifier's window probabilities -> video probabilities
(the mean of the window softmax, the paper's test rule) -> the decision.

The LOSO fold (its held-out subject and its inner validation subjects) and ``+experiment=predict``
(new videos) both run Lightning's test/predict loop over a seizure DataModule and call
:func:`video_predictions`; the label comes from ``evaluation.decision.decide``.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from seizure_lightning.constants import LABELS
from seizure_lightning.evaluation.aggregate import video_probabilities, windows_frame
from seizure_lightning.evaluation.decision import decide
from seizure_lightning.modules.classifier import ClassifierModule

#: where a classifier checkpoint keeps what ``predict`` needs besides the weights: the frames,
#: backbone and window settings of its inputs, and its fold's decision rule
CKPT_KEY = "seizure_lightning"


def predict_windows(
    trainer: pl.Trainer, module: ClassifierModule, loader: DataLoader | None = None, *,
    datamodule: Any = None, ckpt_path: str | None = None, test: bool = False,
) -> dict[str, torch.Tensor]:
    """Run the test (``test=True``: with the test metrics) or predict loop; every rank's windows,
    each once (a collective under DDP)."""
    run = trainer.test if test else trainer.predict
    kwargs = {"datamodule": datamodule} if loader is None else {"dataloaders": loader}
    run(module, ckpt_path=ckpt_path, weights_only=True, **kwargs)
    return module.window_predictions()


def video_predictions(
    windows: dict[str, torch.Tensor], videos: pd.DataFrame, window: int,
    threshold: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(per video, per window)`` tables from the windows of :func:`predict_windows`.

    ``videos`` is the DataModule's video table (``video_id, subject_id, label, frames, fps``;
    ``video_idx`` indexes its rows). Per video: the table's columns with ``p_ES``, ``p_PNES``
    (mean window softmax), ``pred`` (``decide`` with ``threshold``; None = argmax) and
    ``n_windows``. Per window: ``windows_frame`` rows with ``start_s``/``end_s`` in seconds.
    """
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
    return table, per_window
