"""data.subject_norm: each patient standardised by their own statistics (label-free)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from seizure_lightning.data.datasets import CachedWindowDataset, Window
from seizure_lightning.data.seizure import subject_statistics


class FakeCache:
    def __init__(self, items: dict[str, np.ndarray]) -> None:
        self.items = items
        self.n_crops = 1
        self.pad_descriptor = np.full(3, -7.0, np.float32)

    def features(self, item: str) -> np.ndarray:
        return self.items[item][:, None, :]

    def read(self, item: str, start: int, stop: int) -> np.ndarray:
        return self.items[item][start:stop][:, None, :]


def test_statistics_pool_a_subjects_videos_and_floor_constant_channels() -> None:
    rng = np.random.default_rng(0)
    a1 = rng.normal(5.0, 2.0, (50, 3)).astype(np.float32)
    a2 = rng.normal(5.0, 2.0, (30, 3)).astype(np.float32)
    a1[:, 2] = a2[:, 2] = 1.0  # a channel that never changes for this patient
    b = rng.normal(-3.0, 0.5, (40, 3)).astype(np.float32)
    cache = FakeCache({"a1": a1, "a2": a2, "b": b, "x": b + 1})
    records = [SimpleNamespace(video_id="a1", subject_id="P1"),
               SimpleNamespace(video_id="a2", subject_id="P1"),
               SimpleNamespace(video_id="b", subject_id="P2"),
               SimpleNamespace(video_id="x", subject_id=None)]
    stats = subject_statistics(cache, records)
    both = np.concatenate([a1, a2])
    np.testing.assert_allclose(stats["a1"][0], both.mean(0), rtol=1e-5)
    np.testing.assert_array_equal(stats["a1"][0], stats["a2"][0])  # one subject, one set
    assert stats["a1"][1][2] > 0  # floored, not zero
    np.testing.assert_allclose(stats["x"][0], (b + 1).mean(0), rtol=1e-5)  # its own


def test_dataset_standardises_real_frames_not_pad() -> None:
    feats = np.arange(12, dtype=np.float32).reshape(4, 3)
    cache = FakeCache({"v": feats})
    norm = {"v": (np.full(3, 2.0, np.float32), np.full(3, 4.0, np.float32))}
    ds = CachedWindowDataset(cache, [Window("v", 0, 0)], window=6, item_norm=norm)
    item = ds[0]
    x, mask = item["features"].numpy(), item["attention_mask"].numpy()
    np.testing.assert_allclose(x[:4], (feats - 2.0) / 4.0)
    assert mask.tolist() == [True] * 4 + [False] * 2
    np.testing.assert_allclose(x[4:], -7.0)  # PAD untouched
