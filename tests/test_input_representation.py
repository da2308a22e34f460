"""Tests of the input representation (``model.input``) and the models it feeds."""

from __future__ import annotations

import math

import pytest
import torch

from seizure_lightning.lightning_modules.classifier import ClassifierModule
from seizure_lightning.lightning_modules.masked_pretraining import DenoisingPretrainModule
from seizure_lightning.models.input_representation import (
    DEFAULT_FLOOR,
    InputConfig,
    InputRepresentation,
    energy_log_stats,
    frame_differences,
    motion_energy,
    standardize,
    window_statistics,
)

TINY = dict(d_model=16, num_layers=1, num_heads=2, ffn_dim=32, max_positions=10, dropout=0.0,
            attention_dropout=0.0)
LSTM = {"_target_": "seizure_lightning.models.baselines.LSTMEncoder", "hidden_size": 4}


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(3, 10, 6) * 3 + 5
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 7:] = False
    mask[2, 4:] = False
    x[~mask] = 99.0  # a PAD descriptor far from the data
    return x, mask


def represent(x: torch.Tensor, mask: torch.Tensor, kind: str = "window",
              floor: float = DEFAULT_FLOOR, stats_mask: torch.Tensor | None = None):
    rep = InputRepresentation(kind=kind, descriptor_dim=x.shape[-1], floor=floor)
    return rep(x, mask, stats_mask)


def test_statistics_by_hand() -> None:
    x = torch.tensor([[[1.0, 3.0], [3.0, 5.0], [50.0, 50.0]]])
    mask = torch.tensor([[True, True, False]])
    mean, rms = window_statistics(x, mask)
    assert torch.allclose(mean, torch.tensor([[[2.0, 4.0]]]))
    assert torch.allclose(rms, torch.tensor([[[1.0]]]))  # centred values are all +-1
    out = standardize(x, mask, mean, rms)
    assert torch.equal(out, torch.tensor([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]]))


def test_window_is_zero_mean_unit_rms_with_zero_pads() -> None:
    x, mask = _batch()
    out = represent(x, mask, floor=0.0).values
    for b in range(3):
        valid = out[b][mask[b]]
        assert torch.allclose(valid.mean(0), torch.zeros(6), atol=1e-5)
        assert valid.pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=1e-5)
        assert torch.equal(out[b][~mask[b]], torch.zeros_like(out[b][~mask[b]]))


def test_window_removes_a_static_offset_and_scale() -> None:
    """The same movement seen on two "subjects" (another static scene, another contrast)."""
    x, mask = _batch()
    offset, scale = torch.randn(1, 1, 6) * 10, 4.0
    moved = torch.where(mask.unsqueeze(-1), x * scale + offset, x)
    assert torch.allclose(represent(x, mask, floor=0.0).values,
                          represent(moved, mask, floor=0.0).values, atol=1e-4)


def test_none_passes_through_and_unknown_kind_is_refused() -> None:
    x, mask = _batch()
    none = represent(x, mask, "none")
    assert none.values is x and not none.gaps.any() and torch.equal(none.known, mask)
    with pytest.raises(ValueError, match=r"model\.input\.kind"):
        InputConfig(kind="diff")
    with pytest.raises(ValueError, match=r"unknown InputConfig keys: \['norm'\]"):
        InputRepresentation({"kind": "window", "norm": "x"})


def test_stats_mask_keeps_masked_frames_out_of_the_statistics() -> None:
    x, mask = _batch()
    real = mask.clone()
    real[0, 2] = False
    spiked = x.clone()
    spiked[0, 2] = -1000.0  # an r(MASK)-like frame
    out = represent(spiked, mask, stats_mask=real).values
    ref = represent(x, real).values
    assert out[0, 2].pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=1e-4)  # a marker
    keep = real[0]
    assert torch.allclose(out[0][keep], ref[0][keep], atol=1e-5)


@pytest.mark.parametrize("encoder", [TINY, LSTM], ids=["transformer", "lstm"])
def test_any_sequence_model_behind_window_ignores_the_static_scene(encoder: dict) -> None:
    """The representation sits in front of every sequence model of a classifier."""
    x, mask = _batch()
    torch.manual_seed(1)
    window = {"kind": "window", "descriptor_dim": 6, "floor": 0.0}
    clf = ClassifierModule(encoder=encoder, input=window, head={"dropout": 0.0}).eval()
    moved = torch.where(mask.unsqueeze(-1), x * 2.0 - 3.0, x)
    plain = ClassifierModule(encoder=encoder, input={"descriptor_dim": 6}).eval()
    with torch.no_grad():
        assert torch.allclose(clf(x, mask), clf(moved, mask), atol=1e-4)
        assert not torch.allclose(plain(x, mask), plain(moved, mask), atol=1e-3)


def test_pretraining_target_is_in_the_encoder_input_frame() -> None:
    """With the window representation the head regresses the original window standardised by
    the statistics of the input's real (unmasked) frames."""
    x, mask = _batch()
    module = DenoisingPretrainModule(encoder=TINY, input={"kind": "window", "descriptor_dim": 6})
    masked = torch.zeros_like(mask)
    masked[:, 1] = True
    inputs = torch.where(masked.unsqueeze(-1), torch.full_like(x, -50.0), x)
    real = mask & ~masked
    target = module.target(x, inputs, mask, real)
    mean, rms = window_statistics(x, real, floor=DEFAULT_FLOOR)
    assert torch.allclose(target, standardize(x, mask, mean, rms), atol=1e-5)
    plain = DenoisingPretrainModule(encoder=TINY, input={"descriptor_dim": 6})
    assert torch.equal(plain.target(x, inputs, mask, real), x)


@pytest.mark.parametrize("kind", ["window", "energy"])
def test_floor_keeps_a_static_window_from_amplifying_noise(kind: str) -> None:
    """A sleeping patient: descriptors at level ~1 that only carry extraction noise (bf16-like,
    0.4 % of the level). Without a floor the noise comes out at unit scale; with it, small."""
    torch.manual_seed(0)
    level = torch.rand(1, 1, 64) + 0.5
    static = level + 0.004 * level * torch.randn(1, 32, 64)
    mask = torch.ones(1, 32, dtype=torch.bool)
    loud = represent(static, mask, kind, floor=0.0).values
    quiet = represent(static, mask, kind, floor=DEFAULT_FLOOR).values
    assert loud.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=0.05)
    assert quiet.pow(2).mean().sqrt().item() < 0.35
    moving = level + 0.1 * level * torch.sin(torch.linspace(0, 12, 32)).view(1, 32, 1)
    out = represent(moving, mask).values  # real motion: hardly touched by the floor
    assert out.pow(2).mean().sqrt().item() > 0.95


def test_mask_frames_are_markers_at_the_scale_of_real_frames_or_energy_gaps() -> None:
    x, mask = _batch()
    real = mask.clone()
    real[:, 1] = False
    spiked = x.clone()
    spiked[:, 1] = -1000.0  # r(MASK): far from the data, as a real r(MASK) is after standardising
    out = represent(spiked, mask, stats_mask=real).values
    rms_real = out[real].pow(2).mean().sqrt()
    rms_mask = out[mask & ~real].pow(2).mean(-1).sqrt()
    assert torch.all(rms_mask < 3 * rms_real), (rms_mask, rms_real)
    energy = represent(spiked, mask, "energy", stats_mask=real)
    assert torch.all(energy.values[:, 1:3] == 0)  # the masked frame and its successor
    assert energy.gaps[0].nonzero().flatten().tolist() == [0, 1, 2]
    assert not represent(spiked, mask, stats_mask=real).gaps.any()  # window: no gaps


def test_energy_is_one_wide_and_scene_free() -> None:
    x, mask = _batch()
    energy = InputRepresentation(kind="energy", descriptor_dim=6, floor=0.0)
    out = energy(x, mask).values
    assert out.shape == (3, 10, 1) and energy.output_dim == 1
    e, defined = motion_energy(x, mask)
    torch.testing.assert_close(e[0, 4, 0], (x[0, 4] - x[0, 3]).norm())
    d, _ = frame_differences(x, mask)
    assert not defined[:, 0].any() and defined[0, 1:].all() and not defined[2, 4:].any()
    torch.testing.assert_close(d[0, 3], x[0, 3] - x[0, 2])
    offset = torch.randn(1, 1, 6) * 10
    moved = torch.where(mask.unsqueeze(-1), x + offset, x)
    assert torch.allclose(out, energy(moved, mask).values, atol=1e-4)
    valid = out[0][defined[0]]
    assert valid.mean().abs() < 1e-5 and valid.pow(2).mean().sqrt() == pytest.approx(1.0, abs=1e-4)
    node = {"kind": "energy", "descriptor_dim": 6}
    clf = ClassifierModule(encoder=TINY, input=node).eval()
    assert clf.backbone.input_proj.in_features == 1 and clf(x, mask).shape == (3, 2)
    assert DenoisingPretrainModule(encoder=TINY, input=node).head.out_features == 1
    assert ClassifierModule(encoder=LSTM, input=node).backbone.lstm.input_size == 1
    with pytest.raises(ValueError, match=r"input representation is 1 wide"):
        ClassifierModule(encoder={**TINY, "input_dim": 6}, input=node)


def test_energy_log_stats_by_hand_and_pads_ignored() -> None:
    # one descriptor dimension moving by 1, 3, 1, 3: e = [1, 3, 1, 3], mean 2, std 1
    x = torch.tensor([[0.0, 1.0, 4.0, 5.0, 8.0, 100.0]]).unsqueeze(-1)
    mask = torch.tensor([[True, True, True, True, True, False]])
    stats = energy_log_stats(x, mask)
    assert torch.allclose(stats, torch.tensor([[math.log(2.0), math.log(1.0)]]), atol=1e-6)
    # a window that does not move is floored, not -inf
    assert torch.isfinite(energy_log_stats(torch.zeros(1, 4, 3), torch.ones(1, 4))).all()


def test_classifier_head_reads_the_motion_stats() -> None:
    encoder = {**TINY, "max_positions": 32}
    node = {"kind": "energy", "descriptor_dim": 8}
    plain = ClassifierModule(encoder=encoder, input=node)
    module = ClassifierModule(encoder=encoder, input=node, head={"motion_stats": True}).eval()
    assert module.head.in_features == plain.head.in_features + 2
    x, mask = torch.randn(2, 20, 8), torch.ones(2, 20, dtype=torch.bool)
    # energy input is standardised per window: scaling the motion changes only the stats
    with torch.no_grad():
        assert not torch.allclose(module(x, mask), module(3 * x, mask))
        assert torch.allclose(plain.eval()(x, mask), plain(3 * x, mask), atol=1e-4)


def test_gaps_of_a_corrupted_energy_input() -> None:
    x = torch.randn(1, 20, 12)
    valid = torch.ones(1, 20, dtype=torch.bool)
    real = valid.clone()
    real[0, 7] = False  # an r(MASK) frame: its motion and its successor's are undefined
    energy = InputRepresentation(kind="energy", descriptor_dim=12)
    assert energy(x, valid, real).gaps[0].nonzero().flatten().tolist() == [0, 7, 8]
    assert energy(x, valid).gaps[0].nonzero().flatten().tolist() == [0]  # fine-tuning: frame 0
