"""Windowing of descriptor sequences and the epoch-aware sampler (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from seizure_lightning.data.sampling import EpochSeededSampler
from seizure_lightning.data.windows import take_window, window_starts


@pytest.mark.parametrize(
    ("length", "window", "stride", "expected"),
    [
        (100, 256, 128, [0]),
        (256, 256, 128, [0]),
        (300, 256, 128, [0, 44]),
        (512, 256, 128, [0, 128, 256]),
        (600, 256, 128, [0, 128, 256, 344]),
        (10, 4, 4, [0, 4, 6]),
    ],
)
def test_window_starts_cover_every_frame(length, window, stride, expected) -> None:
    starts = window_starts(length, window, stride)
    assert starts == expected
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s : s + window] = True
        assert s + min(window, length) <= length
    assert covered.all()


def test_window_starts_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        window_starts(0, 256, 128)
    with pytest.raises(ValueError, match="positive"):
        window_starts(10, 256, 0)


def test_take_window_pads_with_pad_descriptor() -> None:
    feats = np.arange(12, dtype=np.float16).reshape(6, 2)
    pad = np.array([-7.0, 7.0], np.float32)
    x, mask = take_window(feats, 4, 4, pad)
    assert x.dtype == np.float32 and x.shape == (4, 2)
    np.testing.assert_array_equal(x[:2], feats[4:6])
    np.testing.assert_array_equal(x[2:], [pad, pad])
    assert mask.tolist() == [True, True, False, False]
    full, full_mask = take_window(feats, 0, 4, pad)
    np.testing.assert_array_equal(full, feats[:4])
    assert full_mask.all()


def test_epoch_seeded_sampler_yields_epoch_and_shards() -> None:
    data = list(range(10))
    s0 = EpochSeededSampler(data, num_replicas=2, rank=0, shuffle=True, seed=3)
    s1 = EpochSeededSampler(data, num_replicas=2, rank=1, shuffle=True, seed=3)
    s0.set_epoch(2)
    s1.set_epoch(2)
    a, b = list(s0), list(s1)
    assert {e for _, e in a + b} == {2}
    assert sorted(i for i, _ in a + b) == data  # 10 samples over 2 ranks: no padding
    assert len(s0) == 5
    s0.set_epoch(3)
    assert [i for i, _ in s0] != [i for i, _ in a]  # reshuffled per epoch


def test_epoch_seeded_sampler_skip_resumes_mid_epoch() -> None:
    sampler = EpochSeededSampler(list(range(8)), shuffle=True, seed=0)
    sampler.set_epoch(1)
    full = list(sampler)
    sampler.skip = 3
    assert list(sampler) == full[3:]
    assert list(sampler) == full  # skip applies once
