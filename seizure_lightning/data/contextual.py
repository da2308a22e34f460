"""ContextualClipDataModule: unlabeled EMU video cut into 10-s clips, for denoising pre-training.

``features=cached``: descriptors of ``n_crops`` fixed crops per frame are cached once and one crop
is drawn per sample (per epoch); ``features=online``: the loader decodes the clip, takes the
paper's random 112x112 crop, and the frozen backbone runs on the batch's device
(``on_after_batch_transfer``), so the module sees descriptors either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from seizure_lightning.data.base import DescriptorDataModule, extraction_config
from seizure_lightning.data.corruption import sample_seed
from seizure_lightning.data.datasets import CROP_STREAM, CachedWindowDataset, Window, _unpack
from seizure_lightning.data.extraction import ClipFeaturizer
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

FEATURE_MODES = ("cached", "online")


def split_by_recording(records: Sequence, val_fraction: float, seed: int) -> tuple[list, list]:
    """(train, val) clips; whole recordings (manifest rows) go to validation, so neighbouring
    clips of one recording never sit on both sides. At least one recording stays in training."""
    recordings = sorted({r.row for r in records})
    n_val = min(round(val_fraction * len(recordings)), len(recordings) - 1)
    if val_fraction > 0 and len(recordings) > 1:
        n_val = max(n_val, 1)
    val = set(np.random.default_rng(seed).permutation(recordings)[:n_val].tolist())
    return [r for r in records if r.row not in val], [r for r in records if r.row in val]


class OnlineClipDataset(Dataset):
    """Decoded clips with the paper's random crop, normalised: ``frames`` [L, 3, c, c]."""

    def __init__(self, records: list, featurizer: ClipFeaturizer, window: int, seed: int,
                 random_crop: bool = True) -> None:
        self.records = records
        self.featurizer = featurizer
        self.window = int(window)
        self.seed = int(seed)
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item) -> dict[str, torch.Tensor]:
        from seizure_lightning.features.transforms import normalize_crop

        index, epoch = _unpack(item)
        frames = self.featurizer.load_frames(self.records[index])[: self.window]
        gen = torch.Generator().manual_seed(sample_seed(self.seed, epoch, index, CROP_STREAM))
        offset = self.featurizer.resolve_crop("random" if self.random_crop else None, gen)
        cfg = self.featurizer.cfg
        x = normalize_crop(frames, offset, cfg.crop, cfg.mean, cfg.std)
        valid = x.shape[0]
        out = torch.zeros((self.window, *x.shape[1:]), dtype=x.dtype)
        out[:valid] = x
        mask = torch.zeros(self.window, dtype=torch.bool)
        mask[:valid] = True
        return {"frames": out, "attention_mask": mask, "index": torch.tensor(index)}


class ContextualClipDataModule(DescriptorDataModule):
    """Contextual clips for pre-training (cached or online descriptors)."""

    kind = "contextual"

    def __init__(
        self,
        *,
        clip_seconds: float = 10.0,
        tail: str = "drop",
        min_tail_seconds: float = 2.0,
        exclude_subjects: Sequence[str] = (),
        features: str = "cached",
        n_crops: int = 4,
        crop_mode: str = "fixed_k",
        val_fraction: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if features not in FEATURE_MODES:
            raise ValueError(f"data.features must be one of {FEATURE_MODES}, got {features!r}")
        self.clip_seconds = float(clip_seconds)
        self.tail = tail
        self.min_tail_seconds = float(min_tail_seconds)
        self.exclude_subjects = {str(s) for s in exclude_subjects or ()}
        self.features = features
        self.n_crops = int(n_crops)
        self.crop_mode = crop_mode
        self.val_fraction = float(val_fraction)
        self.train_records: list = []
        self.val_records: list = []
        self._featurizer: ClipFeaturizer | None = None
        self.special: tuple[np.ndarray, np.ndarray] | None = None

    def load_records(self, path: Path) -> list:
        from seizure_lightning.data.manifest import load_contextual_clips

        clips = load_contextual_clips(
            path, clip_seconds=self.clip_seconds, tail=self.tail,
            min_tail_seconds=self.min_tail_seconds, skip_bad_rows=self.skip_bad_rows,
        )
        kept = [c for c in clips if str(c.subject_id) not in self.exclude_subjects]
        if self.exclude_subjects:
            log.info("excluded %d clips of subjects %s", len(clips) - len(kept),
                     sorted(self.exclude_subjects))
        if not kept:
            raise ValueError(f"no contextual clips left in {path} after exclude_subjects")
        return kept

    def subjects_seen(self) -> list[str]:
        """Subjects whose contextual video this pre-training uses (stored in the export)."""
        return sorted({str(r.subject_id) for r in self.records if r.subject_id is not None})

    def has_unknown_subjects(self) -> bool:
        """Whether some clips have no subject id (their patient cannot be ruled out)."""
        return any(r.subject_id in (None, "") for r in self.records)

    def extraction(self):
        return extraction_config(self.frames, self.backbone, n_crops=self.n_crops,
                                 crop_mode=self.crop_mode)

    def prepare_data(self) -> None:
        if self.features == "cached":
            self.build_cache()
        else:
            _ = self.records  # validate the manifest before training starts

    @property
    def featurizer(self) -> ClipFeaturizer:
        if self._featurizer is None:
            cfg = extraction_config(self.frames, self.backbone)
            self._featurizer = ClipFeaturizer(cfg.frames, cfg.encoder)
        return self._featurizer

    def setup(self, stage: str | None = None) -> None:
        if self.train_records:
            return
        self.train_records, self.val_records = split_by_recording(
            self.records, self.val_fraction, self.seed
        )
        if self.features == "cached":
            self.cache = self.open_cache()
            self.special = (self.cache.mask_descriptor, self.cache.pad_descriptor)
        else:
            mask, pad = self.featurizer.special()
            self.special = (mask, pad)
        log.info("pre-training clips: %d train, %d validation (%s features)",
                 len(self.train_records), len(self.val_records), self.features)
        if self.val_fraction > 0 and not self.val_records:
            raise ValueError(
                f"pre-training has no validation clips: {len({r.row for r in self.records})} "
                "recording(s) give nothing to hold out (a whole recording goes to validation, "
                "and one stays in training). Add contextual recordings, or set "
                "data.val_fraction=0 to pre-train without a validation loss on purpose.")

    def special_descriptors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """r(MASK), r(PAD) of this module's backbone (float32 [D] each)."""
        mask, pad = self.special
        return torch.as_tensor(np.asarray(mask, np.float32)), torch.as_tensor(np.asarray(pad, np.float32))

    def _dataset(self, records: list, train: bool) -> Dataset:
        if self.features == "online":
            return OnlineClipDataset(records, self.featurizer, self.window, self.seed,
                                     random_crop=train)
        windows = [Window(r.clip_id, i, 0) for i, r in enumerate(records)]
        return CachedWindowDataset(self.cache, windows, self.window, random_crop=train,
                                   seed=self.seed)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._dataset(self.train_records, True), shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_records:
            return []
        return self._loader(self._dataset(self.val_records, False), shuffle=False)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Online mode: run the frozen backbone on the batch's device; PAD where masked."""
        if "frames" not in batch:
            return batch
        frames, mask = batch.pop("frames"), batch["attention_mask"]
        pad = torch.as_tensor(np.asarray(self.special[1], np.float32), device=mask.device)
        feats = pad.expand(*mask.shape, pad.shape[0]).clone()
        feats[mask] = self.featurizer.encoder.encode(frames[mask]).to(mask.device)
        batch["features"] = feats
        return batch
