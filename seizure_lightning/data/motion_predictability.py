"""How predictable is the motion energy of contextual video from its own neighbours?

    python -m seizure_lightning.data.motion_predictability CACHE [--out F]

``CACHE`` is a descriptor cache folder (``cache/<key>`` under the run's root), e.g. the one of the
contextual clips that pre-training wrote. For every item (crop 0) it computes the motion energy
``e_t = ||r_t - r_(t-1)||`` and prints JSON: its autocorrelation at lags 1-25 frames and the R^2
of a leave-self-out mean of the ``h`` frames on each side (``r2_h1``: interpolation from the two
neighbours). Pre-training can only beat the trivial predictors where this R^2 is well above 0
(docs/evaluation.md). CPU only, a few seconds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seizure_lightning.data.feature_cache import FeatureCache
from seizure_lightning.utils.io import atomic_write_json

LAGS = (1, 2, 5, 10, 25)
HALF_WIDTHS = (1, 3, 6)


def energy_series(cache: FeatureCache) -> list[np.ndarray]:
    """The motion energy of every item of ``cache``, crop 0."""
    out = []
    for item in cache.ids:
        features = np.asarray(cache.features(item), np.float32)
        features = features[:, 0] if features.ndim == 3 else features
        out.append(np.linalg.norm(np.diff(features, axis=0), axis=1))
    return out


def autocorrelation(e: np.ndarray, lag: int) -> float:
    """Autocorrelation of the standardised series at ``lag``."""
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


def predictability(series: list[np.ndarray]) -> dict[str, float]:
    """Mean autocorrelation at ``LAGS`` and neighbour R^2 at ``HALF_WIDTHS``, rounded."""
    figures: dict[str, float] = {"clips": len(series)}
    figures.update({f"autocorr_lag{lag}": round(float(np.mean(
        [autocorrelation(e, lag) for e in series])), 3) for lag in LAGS})
    figures.update({f"r2_h{h}": round(neighbour_r2(series, h), 3) for h in HALF_WIDTHS})
    return figures


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="a descriptor cache folder")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    figures = predictability(energy_series(FeatureCache.open(args.cache)))
    print(json.dumps(figures))
    if args.out is not None:
        atomic_write_json(args.out, figures)
    return figures


if __name__ == "__main__":
    main()
