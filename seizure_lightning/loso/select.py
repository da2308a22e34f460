"""Nested model selection inside a LOSO fold (``loso.select``): every candidate of a small grid
(learning rates, epochs, any config key) is trained on the fold's training subjects and scored
on its inner validation subjects; the best one is tested. The test subject is never looked at.

A grid value ``"*k"`` scales the config's own value (``model.finetune.lr: ["*0.3", "*1", "*3"]``
tries each model's rate around its own default).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from seizure_lightning.evaluation.metrics import binary_figures

SELECTION_METRICS = ("auroc", "balanced_accuracy", "neg_loss")


def candidates(grid: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The grid's candidates in order: the product of ``{config key: [values]}`` (first key
    slowest); ``[]`` for an empty grid. A scalar value is a one-value list."""
    grid = OmegaConf.to_container(grid, resolve=True) if isinstance(grid, DictConfig) else grid
    if not grid:
        return []
    keys = list(grid)
    values = [v if isinstance(v, list | tuple) else [v] for v in grid.values()]
    for key, vals in zip(keys, values, strict=True):
        if not vals:
            raise ValueError(f"loso.select.grid.{key} has no values")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def candidate_config(cfg: DictConfig, overrides: Mapping[str, Any], output_dir: str) -> DictConfig:
    """A copy of ``cfg`` with the candidate's values set and its own output folder (its
    checkpoints and resume state stay apart from the other candidates')."""
    out = cfg.copy()
    with open_dict(out):
        for key, value in overrides.items():
            current = OmegaConf.select(out, key, default="__missing__")
            if current == "__missing__":
                raise ValueError(f"loso.select.grid: {key!r} is not a config key")
            OmegaConf.update(out, key, scaled(key, value, current), merge=False)
        out.paths.output_dir = output_dir
    return out


def scaled(key: str, value: Any, current: Any) -> Any:
    """A grid value: ``"*k"`` is the config's own value times ``k`` (each model's learning rate
    scaled around its own default), anything else is taken as it is."""
    if not (isinstance(value, str) and value.startswith("*")):
        return value
    if not isinstance(current, int | float) or isinstance(current, bool):
        raise ValueError(f"loso.select.grid.{key}: {value!r} scales a number, but {key} is "
                         f"{current!r}")
    return type(current)(current * float(value[1:]))


def validation_score(videos, metric: str, val_loss: float | None) -> float:
    """The selection score of one candidate (higher is better) from its inner validation
    videos (``engine.inference.predict_videos`` table) or its validation loss.

    ``auroc``/``balanced_accuracy`` need both classes among the validation videos; with one
    class only, the candidate is scored by its negative validation loss instead."""
    if metric not in SELECTION_METRICS:
        raise ValueError(f"loso.select.metric must be one of {SELECTION_METRICS}, got {metric!r}")
    labels = videos.label.tolist()
    if metric != "neg_loss" and len(set(labels)) == 2:
        figures = binary_figures(labels, videos.pred.tolist(), videos.p_PNES.to_numpy())
        value = figures.get(metric)
        if value is not None and np.isfinite(value):
            return float(value)
    return -float(val_loss) if val_loss is not None else float("-inf")


def best_candidate(scores: list[float], losses: list[float | None] | None = None) -> int:
    """Index of the best score; among equal scores (a small validation set often ranks every
    candidate perfectly) the lowest validation loss, then the earliest candidate."""
    if not scores:
        raise ValueError("no candidates to choose from")
    losses = losses or [None] * len(scores)
    best = max(scores)
    tied = [i for i, s in enumerate(scores) if s >= best - 1e-12]
    return min(tied, key=lambda i: (float("inf") if losses[i] is None else losses[i], i))
