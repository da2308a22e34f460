"""Tests of the per-window input normalisation (``input_norm``) and the models that use it."""

from __future__ import annotations

import math

import pytest
import torch

from seizure_lightning.models.baselines import LSTMClassifier
from seizure_lightning.models.input_norm import (
    DEFAULT_FLOOR,
    frame_differences,
    normalize_window,
    standardize,
    window_statistics,
)
from seizure_lightning.models.sequence_encoder import SequenceEncoder, SequenceEncoderConfig
from seizure_lightning.modules.pretrain import DenoisingPretrainModule

TINY = dict(input_dim=6, d_model=16, num_layers=1, num_heads=2, ffn_dim=32, max_positions=10,
            dropout=0.0, attention_dropout=0.0)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(3, 10, 6) * 3 + 5
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 7:] = False
    mask[2, 4:] = False
    x[~mask] = 99.0  # a PAD descriptor far from the data
    return x, mask


def test_statistics_by_hand() -> None:
    x = torch.tensor([[[1.0, 3.0], [3.0, 5.0], [50.0, 50.0]]])
    mask = torch.tensor([[True, True, False]])
    mean, rms = window_statistics(x, mask)
    assert torch.allclose(mean, torch.tensor([[[2.0, 4.0]]]))
    assert torch.allclose(rms, torch.tensor([[[1.0]]]))  # centred values are all +-1
    out = standardize(x, mask, mean, rms)
    assert torch.equal(out, torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]]))


def test_window_norm_is_zero_mean_unit_rms_with_zero_pads() -> None:
    x, mask = _batch()
    out = normalize_window(x, mask, floor=0.0)
    for b in range(3):
        valid = out[b][mask[b]]
        assert torch.allclose(valid.mean(0), torch.zeros(6), atol=1e-5)
        assert valid.pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=1e-5)
        assert torch.equal(out[b][~mask[b]], torch.zeros_like(out[b][~mask[b]]))


def test_window_norm_removes_a_static_offset_and_scale() -> None:
    """The same movement seen on two "subjects" (another static scene, another contrast)."""
    x, mask = _batch()
    offset, scale = torch.randn(1, 1, 6) * 10, 4.0
    moved = torch.where(mask.unsqueeze(-1), x * scale + offset, x)
    assert torch.allclose(normalize_window(x, mask, floor=0.0),
                          normalize_window(moved, mask, floor=0.0), atol=1e-4)


def test_none_passes_through_and_unknown_mode_is_refused() -> None:
    x, mask = _batch()
    assert normalize_window(x, mask, "none") is x
    with pytest.raises(ValueError, match="input_norm"):
        normalize_window(x, mask, "batch")
    with pytest.raises(ValueError, match="input_norm"):
        SequenceEncoderConfig(**TINY, input_norm="layer")


def test_stats_mask_keeps_masked_frames_out_of_the_statistics() -> None:
    x, mask = _batch()
    real = mask.clone()
    real[0, 2] = False
    spiked = x.clone()
    spiked[0, 2] = -1000.0  # an r(MASK)-like frame
    out = normalize_window(spiked, mask, stats_mask=real)
    ref = normalize_window(x, real)
    assert out[0, 2].pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=1e-4)  # a marker
    keep = real[0]
    assert torch.allclose(out[0][keep], ref[0][keep], atol=1e-5)


def test_encoder_with_window_norm_ignores_the_static_scene() -> None:
    x, mask = _batch()
    torch.manual_seed(1)
    encoder = SequenceEncoder({**TINY, "input_norm": "window", "input_norm_floor": 0.0}).eval()
    moved = torch.where(mask.unsqueeze(-1), x + 7.0, x)
    with torch.no_grad():
        a, b = encoder(x, mask), encoder(moved, mask)
    assert torch.allclose(a[mask], b[mask], atol=1e-4)
    plain = SequenceEncoder(TINY).eval()
    with torch.no_grad():
        assert not torch.allclose(plain(x, mask)[mask], plain(moved, mask)[mask], atol=1e-3)


def test_lstm_with_window_norm_ignores_the_static_scene() -> None:
    x, mask = _batch()
    torch.manual_seed(1)
    lstm = LSTMClassifier({"input_dim": 6, "hidden_size": 4, "input_norm": "window",
                           "input_norm_floor": 0.0}).eval()
    moved = torch.where(mask.unsqueeze(-1), x * 2.0 - 3.0, x)
    with torch.no_grad():
        assert torch.allclose(lstm(x, mask), lstm(moved, mask), atol=1e-5)


def test_pretraining_target_is_in_the_encoder_input_frame() -> None:
    """With input_norm=window the head regresses the original window standardised by the
    statistics of the input's real (unmasked) frames."""
    x, mask = _batch()
    module = DenoisingPretrainModule(encoder={**TINY, "input_norm": "window"})
    masked = torch.zeros_like(mask)
    masked[:, 1] = True
    inputs = torch.where(masked.unsqueeze(-1), torch.full_like(x, -50.0), x)
    real = mask & ~masked
    target = module.target(x, inputs, mask, real)
    mean, rms = window_statistics(x, real, floor=DEFAULT_FLOOR)
    assert torch.allclose(target, standardize(x, mask, mean, rms), atol=1e-5)
    plain = DenoisingPretrainModule(encoder=TINY)
    assert torch.equal(plain.target(x, inputs, mask, real), x)


def test_floor_keeps_a_static_window_from_amplifying_noise() -> None:
    """A sleeping patient: descriptors at level ~1 that only carry extraction noise (bf16-like,
    0.4 % of the level). Without a floor the noise comes out at unit scale; with it, small."""
    torch.manual_seed(0)
    level = torch.rand(1, 1, 64) + 0.5
    static = level + 0.004 * level * torch.randn(1, 32, 64)
    mask = torch.ones(1, 32, dtype=torch.bool)
    for mode in ("window", "diff"):
        loud = normalize_window(static, mask, mode, floor=0.0)
        quiet = normalize_window(static, mask, mode, floor=DEFAULT_FLOOR)
        assert loud.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=0.05)
        assert quiet.pow(2).mean().sqrt().item() < 0.35
    moving = level + 0.1 * level * torch.sin(torch.linspace(0, 12, 32)).view(1, 32, 1)
    out = normalize_window(moving, mask, "window")  # real motion: hardly touched by the floor
    assert out.pow(2).mean().sqrt().item() > 0.95


def test_diff_sees_the_movement_not_the_scene() -> None:
    x, mask = _batch()
    offset = torch.randn(1, 1, 6) * 10
    moved = torch.where(mask.unsqueeze(-1), x * 3.0 + offset, x)
    a, b = (normalize_window(v, mask, "diff", floor=0.0) for v in (x, moved))
    assert torch.allclose(a, b, atol=1e-4)
    d, defined = frame_differences(x, mask)
    assert not defined[:, 0].any() and defined[0, 1:].all() and not defined[2, 4:].any()
    torch.testing.assert_close(d[0, 3], x[0, 3] - x[0, 2])


def test_mask_frames_reach_the_encoder_at_the_scale_of_real_frames() -> None:
    x, mask = _batch()
    real = mask.clone()
    real[:, 1] = False
    spiked = x.clone()
    spiked[:, 1] = -1000.0  # r(MASK): far from the data, as a real r(MASK) is after standardising
    for mode in ("window", "diff"):
        out = normalize_window(spiked, mask, mode, stats_mask=real)
        rms_real = out[real].pow(2).mean().sqrt()
        rms_mask = out[mask & ~real].pow(2).mean(-1).sqrt()
        assert torch.all(rms_mask < 3 * rms_real), (mode, rms_mask, rms_real)


def test_energy_is_one_wide_and_scene_free() -> None:
    from seizure_lightning.models.input_norm import motion_energy, representation_dim

    x, mask = _batch()
    out = normalize_window(x, mask, "energy", floor=0.0)
    assert out.shape == (3, 10, 1) and representation_dim("energy", 6) == 1
    e, defined = motion_energy(x, mask)
    torch.testing.assert_close(e[0, 4, 0], (x[0, 4] - x[0, 3]).norm())
    offset = torch.randn(1, 1, 6) * 10
    moved = torch.where(mask.unsqueeze(-1), x + offset, x)
    assert torch.allclose(out, normalize_window(moved, mask, "energy", floor=0.0), atol=1e-4)
    valid = out[0][defined[0]]
    assert valid.mean().abs() < 1e-5 and valid.pow(2).mean().sqrt() == pytest.approx(1.0, abs=1e-4)
    encoder = SequenceEncoder({**TINY, "input_norm": "energy"}).eval()
    assert encoder.input_proj.in_features == 1 and encoder(x, mask).shape == (3, 10, 16)
    module = DenoisingPretrainModule(encoder={**TINY, "input_norm": "energy"})
    assert module.head.out_features == 1
    lstm = LSTMClassifier({"input_dim": 6, "hidden_size": 4, "input_norm": "energy"})
    assert lstm(x, mask).shape == (3, 10, 8)


def test_energy_log_stats_by_hand_and_pads_ignored() -> None:
    from seizure_lightning.models.input_norm import energy_log_stats

    # one descriptor dimension moving by 1, 3, 1, 3: e = [1, 3, 1, 3], mean 2, std 1
    x = torch.tensor([[0.0, 1.0, 4.0, 5.0, 8.0, 100.0]]).unsqueeze(-1)
    mask = torch.tensor([[True, True, True, True, True, False]])
    stats = energy_log_stats(x, mask)
    assert torch.allclose(stats, torch.tensor([[math.log(2.0), math.log(1.0)]]), atol=1e-6)
    # a window that does not move is floored, not -inf
    assert torch.isfinite(energy_log_stats(torch.zeros(1, 4, 3), torch.ones(1, 4))).all()


def test_classifier_head_reads_the_motion_stats() -> None:
    from seizure_lightning.modules.classifier import ClassifierModule

    encoder = {"input_dim": 8, "d_model": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32,
               "max_positions": 32, "input_norm": "energy"}
    plain = ClassifierModule(encoder=encoder, from_scratch=True)
    module = ClassifierModule(encoder=encoder, from_scratch=True, motion_stats=True).eval()
    assert module.head.in_features == plain.head.in_features + 2
    x, mask = torch.randn(2, 20, 8), torch.ones(2, 20, dtype=torch.bool)
    # energy input is standardised per window: scaling the motion changes only the stats
    with torch.no_grad():
        assert not torch.allclose(module(x, mask), module(3 * x, mask))
        assert torch.allclose(plain.eval()(x, mask), plain(3 * x, mask), atol=1e-4)
