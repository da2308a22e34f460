"""Unit tests of the denoising corruption (span permutation + masking)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seizure_lightning.data.corruption import (
    TRAIN_STREAM,
    VAL_STREAM,
    apply_corruption,
    batch_corruption_plan,
    corrupted_positions,
    corruption_plan,
    invert_order,
    sample_seed,
)


def _moved_span(order: np.ndarray, valid_len: int) -> list[np.ndarray]:
    """The two contiguous runs of source frames in the displaced part of ``order[:valid_len]``."""
    displaced = np.flatnonzero(order[:valid_len] != np.arange(valid_len))
    assert displaced.size > 0, "nothing moved"
    seg = order[displaced[0] : displaced[-1] + 1]
    # The displaced segment is [moved span][shifted rest] or [shifted rest][moved span].
    runs = np.split(seg, np.flatnonzero(np.diff(seg) != 1) + 1)
    assert len(runs) == 2, f"expected two contiguous runs, got {runs}"
    return runs


@pytest.mark.parametrize("seed", range(20))
def test_span_has_exact_length_and_moves(seed: int) -> None:
    rng = np.random.default_rng(seed)
    valid_len = int(rng.integers(31, 256))
    order, _ = corruption_plan(valid_len, 256, rng, span=30, mask=False)
    assert sorted(order.tolist()) == list(range(256))
    runs = _moved_span(order, valid_len)
    # One of the two runs is the relocated span of exactly 30 consecutive frames.
    assert 30 in {len(r) for r in runs}
    assert not np.array_equal(order[:valid_len], np.arange(valid_len))


def test_span_starts_and_targets_cover_range() -> None:
    starts, moved_first = set(), set()
    for seed in range(400):
        order, _ = corruption_plan(40, 40, np.random.default_rng(seed), span=30, mask=False)
        moved_first.add(int(order[0]))
        starts.add(int(np.flatnonzero(order != np.arange(40))[0]))
    assert len(moved_first) > 5 and len(starts) > 5


def test_pads_never_moved_or_masked() -> None:
    for seed in range(50):
        rng = np.random.default_rng(seed)
        valid_len = int(rng.integers(0, 256))
        order, masked = corruption_plan(valid_len, 256, rng)
        assert np.array_equal(order[valid_len:], np.arange(valid_len, 256))
        assert not masked[valid_len:].any()
        assert set(order[:valid_len].tolist()) == set(range(valid_len))


def test_mask_ratio_exact_count() -> None:
    for valid_len in (1, 7, 100, 200, 256):
        _, masked = corruption_plan(
            valid_len, 256, np.random.default_rng(valid_len), mask_ratio=0.15
        )
        assert masked.sum() == round(0.15 * valid_len)
    # Over many samples each valid position is masked with probability ~0.15.
    hits = np.zeros(256)
    n = 400
    for seed in range(n):
        hits += corruption_plan(256, 256, np.random.default_rng(seed), permute=False)[1]
    rate = hits / n
    p = round(0.15 * 256) / 256  # exact count per sample: 38 of 256
    assert rate.mean() == pytest.approx(p)
    assert np.all(np.abs(rate - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_short_clip_is_not_permuted_but_masked() -> None:
    for valid_len in (0, 5, 29, 30):
        order, masked = corruption_plan(valid_len, 64, np.random.default_rng(0), span=30)
        assert np.array_equal(order, np.arange(64))
        assert masked.sum() == round(0.15 * valid_len)


def test_switches_disable_parts() -> None:
    order, masked = corruption_plan(200, 256, np.random.default_rng(0), permute=False, mask=False)
    assert np.array_equal(order, np.arange(256)) and not masked.any()


def test_unpermuting_restores_original() -> None:
    feats = torch.randn(3, 64, 5)
    attn = torch.ones(3, 64, dtype=torch.bool)
    attn[1, 40:] = False
    order, masked = batch_corruption_plan(
        attn, [0, 1, 2], base_seed=7, epoch=0, span=10, mask=False
    )
    corrupted = apply_corruption(feats, order, masked, torch.zeros(5))
    inv = invert_order(order)
    restored = torch.gather(corrupted, 1, inv.unsqueeze(-1).expand_as(corrupted))
    assert torch.equal(restored, feats)
    assert torch.equal(invert_order(invert_order(order)), order)
    inv_np = invert_order(order.numpy())
    assert np.array_equal(inv_np, inv.numpy())


def test_apply_corruption_semantics() -> None:
    feats = torch.randn(2, 50, 4)
    attn = torch.ones(2, 50, dtype=torch.bool)
    attn[0, 45:] = False
    order, masked = batch_corruption_plan(attn, torch.tensor([3, 9]), base_seed=1, epoch=2, span=10)
    mask_desc = torch.full((4,), -7.0)
    out = apply_corruption(feats, order, masked, mask_desc)
    for b in range(2):
        for i in range(50):
            expected = mask_desc if masked[b, i] else feats[b, order[b, i]]
            assert torch.equal(out[b, i], expected)
    assert not masked[0, 45:].any() and torch.equal(out[0, 45:], feats[0, 45:])
    corrupted = corrupted_positions(order, masked)
    assert torch.equal(corrupted, masked | (order != torch.arange(50)))


def test_non_prefix_mask_keeps_pads_in_place() -> None:
    attn = torch.zeros(1, 80, dtype=torch.bool)
    attn[0, 10:70] = True
    order, masked = batch_corruption_plan(attn, [0], base_seed=0, epoch=0, span=20)
    pads = ~attn[0]
    assert torch.equal(order[0][pads], torch.arange(80)[pads])
    assert not masked[0][pads].any()
    assert set(order[0][attn[0]].tolist()) == set(range(10, 70))


def test_determinism_per_seed() -> None:
    attn = torch.ones(4, 128, dtype=torch.bool)
    a = batch_corruption_plan(attn, [5, 6, 7, 8], base_seed=3, epoch=1)
    b = batch_corruption_plan(attn, [5, 6, 7, 8], base_seed=3, epoch=1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # A sample's plan does not depend on its batch neighbours.
    c = batch_corruption_plan(attn[:1], [7], base_seed=3, epoch=1)
    assert torch.equal(c[0][0], a[0][2]) and torch.equal(c[1][0], a[1][2])
    d = batch_corruption_plan(attn, [5, 6, 7, 8], base_seed=3, epoch=2)
    assert not torch.equal(a[1], d[1])


def test_sample_seed() -> None:
    assert sample_seed(0, 0, 0) == sample_seed(0, 0, 0)
    seeds = {sample_seed(1, e, i) for e in range(5) for i in range(100)}
    assert len(seeds) == 500
    assert sample_seed(1, 0, 0, TRAIN_STREAM) != sample_seed(1, 0, 0, VAL_STREAM)
    assert 0 <= sample_seed(2**31, 10**6, 10**9) < 2**63
    with pytest.raises(ValueError):
        sample_seed(0, 0, -1)


def test_interpolate_missing_fills_from_the_nearest_known_neighbours() -> None:
    from seizure_lightning.data.corruption import interpolate_missing

    values = torch.tensor([[0.0, 9.0, 9.0, 3.0, 9.0], [9.0, 2.0, 9.0, 9.0, 9.0]]).unsqueeze(-1)
    known = torch.tensor([[True, False, False, True, False], [False, True, False, False, False]])
    out = interpolate_missing(values, known).squeeze(-1)
    torch.testing.assert_close(out[0], torch.tensor([0.0, 1.0, 2.0, 3.0, 3.0]))
    torch.testing.assert_close(out[1], torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0]))
    none = torch.zeros(1, 5, dtype=torch.bool)
    torch.testing.assert_close(interpolate_missing(values[:1], none), values[:1])
