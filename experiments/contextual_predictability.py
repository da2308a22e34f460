"""How predictable is the motion energy of contextual video from its own neighbours?

    .venv/bin/python experiments/contextual_predictability.py ROOT [hydra overrides...]

e.g. ``... contextual_predictability.py $DEMO_ROOT synth=demo`` (the demo's contextual clips, read
from the descriptor cache that its pre-training wrote; nothing is extracted if that ran).
Composes ``+experiment=pretrain`` with ``paths.root_dir=ROOT`` and the overrides, reads every
contextual clip's cached descriptors (crop 0), computes the motion energy
``e_t = ||r_t - r_(t-1)||`` and prints JSON: its autocorrelation at lags 1-25 frames and the R^2
of a leave-self-out mean of the ``h`` frames on each side (``r2_h1``: interpolation from the two
neighbours). Pre-training can only beat the trivial predictors where this R^2 is well above 0
(docs/learning.md §3d). CPU only, a few seconds once the cache exists.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from seizure_lightning.app import CONFIG_DIR
from seizure_lightning.resolvers import register_resolvers


def energy_series(root: str, overrides: list[str]) -> list[np.ndarray]:
    """The motion energy of every contextual clip (training and validation), crop 0."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = compose("config", ["+experiment=pretrain", f"paths.root_dir={root}",
                                 "logger=none", *overrides])
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup()
    out = []
    for record in [*datamodule.train_records, *datamodule.val_records]:
        features = np.asarray(datamodule.cache.features(record.clip_id), np.float32)[:, 0]
        out.append(np.linalg.norm(np.diff(features, axis=0), axis=1))
    return out


def autocorrelation(e: np.ndarray, lag: int) -> float:
    z = (e - e.mean()) / max(float(e.std()), 1e-8)
    return float((z[lag:] * z[:-lag]).mean())


def neighbour_r2(series: list[np.ndarray], h: int) -> float:
    """R^2 of predicting each standardised e_t by the mean of its 2h neighbours (not itself)."""
    kernel = np.ones(2 * h + 1)
    kernel[h] = 0.0
    num = den = 0.0
    for e in series:
        z = (e - e.mean()) / max(float(e.std()), 1e-8)
        guess = np.convolve(z, kernel, "same") / (2 * h)
        num += float(((z - guess)[h:-h] ** 2).sum())
        den += float((z[h:-h] ** 2).sum())
    return 1.0 - num / den


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    series = energy_series(argv[0], argv[1:])
    figures = {"clips": len(series)}
    figures.update({f"autocorr_lag{lag}": round(float(np.mean(
        [autocorrelation(e, lag) for e in series])), 3) for lag in (1, 2, 5, 10, 25)})
    figures.update({f"r2_h{h}": round(neighbour_r2(series, h), 3) for h in (1, 3, 6)})
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
