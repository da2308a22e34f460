"""data/motion_predictability.py: how predictable a cache's motion energy is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seizure_lightning.data import motion_predictability as mp
from tests.cache_fixtures import write_cache


def test_autocorrelation_of_a_sine() -> None:
    e = np.sin(2 * np.pi * np.arange(400) / 20)  # period 20 frames
    assert mp.autocorrelation(e, 20) == pytest.approx(1.0, abs=0.06)
    assert mp.autocorrelation(e, 10) == pytest.approx(-1.0, abs=0.06)


def test_neighbour_r2_tells_smooth_motion_from_white_noise() -> None:
    smooth = [np.sin(2 * np.pi * np.arange(500) / 50) + 2]
    noise = [np.random.default_rng(0).normal(size=5000)]
    assert mp.neighbour_r2(smooth, 1) > 0.99
    # the mean of 2h independent neighbours misses by 1 + 1/(2h) of the variance
    assert mp.neighbour_r2(noise, 1) == pytest.approx(-0.5, abs=0.05)
    assert mp.neighbour_r2(noise, 6) == pytest.approx(-1 / 12, abs=0.05)


def test_cli_reads_the_energy_of_every_item(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Descriptors that flip sign along one axis by ``1.5 + sin``: the energy is about that."""
    t = np.arange(300)
    items = {}
    for i, period in enumerate((30, 40, 60)):
        step = 1.5 + np.sin(2 * np.pi * t / period)
        x = np.zeros((len(t), 2, 4))
        x[:, :, 0] = ((-1) ** t * step / 2)[:, None]
        items[f"clip{i}"] = (x, None)
    out = tmp_path / "f.json"
    figures = mp.main([str(write_cache(tmp_path / "c", items)), "--out", str(out)])
    assert figures == json.loads(capsys.readouterr().out) == json.loads(out.read_text())
    assert figures["clips"] == 3
    assert figures["r2_h1"] > 0.9 and figures["autocorr_lag1"] > 0.9
    assert set(figures) == {"clips", *(f"autocorr_lag{k}" for k in mp.LAGS),
                            *(f"r2_h{h}" for h in mp.HALF_WIDTHS)}
