"""synthetic/fairness.py: single-frame vs temporal baselines on the synthetic benchmark."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from seizure_lightning.synthetic import fairness


def test_logistic_regression_separates_what_is_separable() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    x = rng.normal(size=(60, 3)) + 5.0 * y[:, None]
    subjects = np.repeat(np.arange(12), 5)
    assert fairness.scores(y, fairness.loso_predict(x, y, subjects, l2=1.0)) == {
        "balanced_accuracy": 1.0, "accuracy": 1.0}
    noise = rng.normal(size=(60, 3))
    assert fairness.scores(y, fairness.loso_predict(noise, y, subjects, 1.0))[
        "balanced_accuracy"] < 0.75


def test_scores_balance_the_classes() -> None:
    y = np.array([0, 0, 0, 1])
    assert fairness.scores(y, np.zeros(4, int)) == {"balanced_accuracy": 0.5, "accuracy": 0.75}


def test_temporal_features_see_the_rhythm_of_a_box() -> None:
    """A bright square blinking at 2 Hz vs one at 5 Hz: the band energies differ."""
    fps, t = 25.0, np.arange(200)
    boxes = np.tile([8.0, 8.0, 56.0, 40.0], (len(t), 1))
    feats = []
    for hz in (2.0, 5.0):
        gray = np.zeros((len(t), 48, 64), np.uint8)
        gray[:, 16:32, 24:40] = (127 + 120 * np.sin(2 * np.pi * hz * t / fps))[:, None, None]
        feats.append(fairness.temporal_features(gray, boxes, fps))
    assert feats[0].shape == (len(fairness.BANDS_HZ) - 1 + 10,)
    assert np.isfinite(feats[0]).all() and not np.allclose(feats[0], feats[1])


def test_cli_on_the_tiny_dataset(tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fairness, "SINGLE_HW", (4, 8))  # a small Newton system: fast
    result = fairness.main(["--data", str(tiny_dataset), "--repeats", "2"])
    with open(tiny_dataset / "seizures.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert result["videos"] == len(rows) and len(result["single_frame"]["per_draw"]) == 2
    assert result["subjects"] == len({r["subject_id"] for r in rows})
    for part in (result["single_frame"], result["temporal"]):
        assert 0.0 <= part["balanced_accuracy"] <= 1.0
