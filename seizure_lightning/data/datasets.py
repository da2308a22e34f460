"""Map-style datasets over the descriptor cache. Items are ``(index, epoch)`` pairs from
:class:`~seizure_lightning.data.sampling.EpochSeededSampler` (a plain int works too)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from seizure_lightning.data.corruption import sample_seed
from seizure_lightning.data.windows import take_window

CROP_STREAM = 7  # seed stream of the per-sample crop choice (distinct from corruption's)


def _unpack(item: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(item, (tuple, list)):
        return int(item[0]), int(item[1])
    return int(item), 0


@dataclass(frozen=True)
class Window:
    """One window of one cached item (``video_idx`` indexes the module's video table)."""

    item_id: str
    video_idx: int
    start: int
    label: int = -1


class CachedWindowDataset(Dataset):
    """Windows of cached descriptors: ``features`` [L, D] float32, PAD-filled past the end.

    ``random_crop=True`` draws one of the cache's fixed crops per sample from
    ``(seed, epoch, index)``; otherwise crop 0 (the centre crop) is used. ``item_norm``
    (item id -> mean, std [D]) standardises each item's real frames (not PAD) by them.
    """

    def __init__(
        self, cache, windows: list[Window], window: int, *, random_crop: bool = False,
        seed: int = 0, item_norm: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        self.cache = cache
        self.windows = windows
        self.window = int(window)
        self.random_crop = random_crop and cache.n_crops > 1
        self.seed = int(seed)
        self.pad = np.asarray(cache.pad_descriptor, dtype=np.float32)
        self.item_norm = item_norm

    def __len__(self) -> int:
        return len(self.windows)

    def crop_index(self, index: int, epoch: int) -> int:
        """The crop used by sample ``index`` in ``epoch``."""
        if not self.random_crop:
            return 0
        rng = np.random.default_rng(sample_seed(self.seed, epoch, index, stream=CROP_STREAM))
        return int(rng.integers(self.cache.n_crops))

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, epoch = _unpack(item)
        w = self.windows[index]
        feats = self.cache.read(w.item_id, w.start, w.start + self.window)
        x, mask = take_window(feats[:, self.crop_index(index, epoch)], 0, self.window, self.pad)
        if self.item_norm is not None:
            mean, std = self.item_norm[w.item_id]
            x[mask] = (x[mask] - mean) / std
        return {
            "features": torch.from_numpy(x),
            "attention_mask": torch.from_numpy(mask),
            "index": torch.tensor(index, dtype=torch.long),
            "label": torch.tensor(w.label, dtype=torch.long),
            "video_idx": torch.tensor(w.video_idx, dtype=torch.long),
            "start": torch.tensor(w.start, dtype=torch.long),
        }
