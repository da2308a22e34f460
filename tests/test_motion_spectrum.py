"""The motion-spectrum baseline: temporal only, blind to static content, frequency-aware."""

from __future__ import annotations

import math

import torch

from seizure_lightning.lightning_modules.classifier import ClassifierModule
from seizure_lightning.models.baselines import MotionSpectrum


def _oscillation(hz: float, length: int = 256, dim: int = 16, fps: float = 25.0) -> torch.Tensor:
    t = torch.arange(length) / fps
    direction = torch.linspace(-1, 1, dim)
    return torch.sin(2 * math.pi * hz * t)[:, None] * direction[None, :]


def test_static_content_does_not_matter() -> None:
    model = MotionSpectrum({"input_dim": 16, "bands": 16, "max_hz": 8.0})
    x = _oscillation(3.0)[None]
    mask = torch.ones(1, 256, dtype=torch.bool)
    room = torch.randn(16) * 10  # a subject's static appearance
    torch.testing.assert_close(model(x, mask), model(x + room, mask), atol=1e-4, rtol=1e-4)


def test_band_of_the_movement_frequency_dominates() -> None:
    model = MotionSpectrum({"input_dim": 16, "bands": 16, "max_hz": 8.0})
    mask = torch.ones(2, 256, dtype=torch.bool)
    x = torch.stack([_oscillation(1.1), _oscillation(2.9)])
    out = model(x, mask)[:, :16]  # LayerNorm keeps the order within a row
    # the motion energy oscillates at twice the movement frequency: 2.2 Hz lies in band 4
    # (2.0, 2.5], 5.8 Hz in band 11 (5.5, 6.0]
    assert out[0].argmax().item() == 4 and out[1].argmax().item() == 11


def test_padding_is_ignored_and_classifier_accepts_window_features() -> None:
    module = ClassifierModule(
        encoder={"_target_": "seizure_lightning.models.baselines.MotionSpectrum"},
        input={"descriptor_dim": 16}, head={"dropout": 0.0},
    )
    x = torch.randn(3, 256, 16)
    mask = torch.ones(3, 256, dtype=torch.bool)
    mask[2, 200:] = False
    logits = module(x, mask)
    x2 = x.clone()
    x2[2, 200:] = 123.0  # pad content must not matter
    torch.testing.assert_close(logits, module(x2, mask))
    assert logits.shape == (3, 2)
