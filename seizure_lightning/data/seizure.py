"""SeizureVideoDataModule: labelled seizure videos -> windows of cached descriptors.

LOSO: ``test_subject`` holds out every video of one subject; ``split`` (a callable, e.g.
``loso.splits.SubjectSplit`` from the ``data.split`` config) divides the other subjects into
training and inner validation subjects. Without one, every other subject trains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader

from seizure_lightning.constants import LABEL_TO_INDEX
from seizure_lightning.data.base import DescriptorDataModule
from seizure_lightning.data.datasets import CachedWindowDataset, Window
from seizure_lightning.data.windows import window_starts
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.naming import natural_sorted

log = get_logger(__name__)


class SeizureVideoDataModule(DescriptorDataModule):
    """Windows of 256 descriptors of seizure videos, split by subject."""

    kind = "seizures"

    def __init__(
        self,
        *,
        test_subject: str | None = None,
        split: Callable[[Sequence[Any], str | None], dict[str, list[str]]] | None = None,
        labelled: bool = True,
        train_stride: int = 128,
        test_stride: int = 128,
        subject_norm: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.subject_norm = bool(subject_norm)
        self.item_norm: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self.test_subject = None if test_subject in (None, "") else str(test_subject)
        self.splitter = split
        self.labelled = bool(labelled)
        self.train_stride = int(train_stride)
        self.test_stride = int(test_stride)
        self.videos: pd.DataFrame | None = None
        self.split: dict[str, list[str]] = {}

    def load_records(self, path: Path) -> list:
        from seizure_lightning.data.manifest import load_seizure_manifest

        return load_seizure_manifest(path, skip_bad_rows=self.skip_bad_rows,
                                     labelled=self.labelled)

    # ------------------------------------------------------------------ splits
    def subjects(self) -> list[str]:
        """Every subject of the manifest (the LOSO folds), naturally sorted."""
        return natural_sorted({r.subject_id for r in self.records})

    def make_split(self) -> dict[str, list[str]]:
        """Subjects of train / val / test for this fold."""
        if self.splitter is not None:
            return self.splitter(self.records, self.test_subject)
        subjects = self.subjects()
        if self.test_subject is not None and self.test_subject not in subjects:
            raise ValueError(f"data.test_subject={self.test_subject!r} is not a subject of "
                             f"{self.manifest_path()} (subjects: {', '.join(subjects)})")
        test = [self.test_subject] if self.test_subject else []
        return {"train": [s for s in subjects if s not in test], "val": [], "test": test}

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str | None = None) -> None:
        if self.cache is not None:
            return
        self.cache = self.open_cache()
        self.split = self.make_split()
        self.videos = pd.DataFrame(
            [
                {
                    "video_id": r.video_id,
                    "subject_id": r.subject_id,
                    "label": r.label,
                    "frames": self.cache.length(r.video_id),
                    "fps": float(self.frames.get("fps", 25.0)),
                }
                for r in self.records
            ]
        )
        if self.subject_norm:
            self.item_norm = subject_statistics(self.cache, self.records)
        log.info(
            "fold: test=%s, %d train subjects, %d validation subjects",
            self.split["test"] or "-", len(self.split["train"]), len(self.split["val"]),
        )

    def windows_of(self, part: str, stride: int) -> list[Window]:
        """Windows of every video whose subject is in split ``part``."""
        subjects = set(self.split[part])
        out = []
        for idx, row in self.videos.iterrows():
            if row.subject_id not in subjects:
                continue
            for start in window_starts(int(row.frames), self.window, stride):
                out.append(Window(row.video_id, int(idx), start,
                                  LABEL_TO_INDEX.get(row.label, -1)))
        return out

    def dataset(self, part: str) -> CachedWindowDataset:
        stride = self.train_stride if part == "train" else self.test_stride
        return CachedWindowDataset(self.cache, self.windows_of(part, stride), self.window,
                                   item_norm=self.item_norm)

    def train_windows(self) -> pd.DataFrame:
        """One row per training window: ``label`` (class index) and ``subject_id`` (what class
        weighting reads)."""
        windows = self.windows_of("train", self.train_stride)
        subject = self.videos.subject_id
        return pd.DataFrame({"label": [w.label for w in windows],
                             "subject_id": [subject.iloc[w.video_idx] for w in windows]})

    # ------------------------------------------------------------------ loaders
    def train_dataloader(self) -> DataLoader:
        return self._loader(self.dataset("train"), shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        ds = self.dataset("val")
        return self._loader(ds, shuffle=False) if len(ds) else []

    def test_dataloader(self) -> DataLoader:
        ds = self.dataset("test")
        if not len(ds):
            raise ValueError("no test videos: set data.test_subject to a subject of the manifest")
        return self._loader(ds, shuffle=False)

    def part_dataloader(self, part: str) -> DataLoader | list:
        """Every window of split ``part``'s videos in order, at the test stride (``[]`` when the
        part has none): to score the training or validation subjects as the test subject is."""
        ds = CachedWindowDataset(self.cache, self.windows_of(part, self.test_stride), self.window,
                                 item_norm=self.item_norm)
        return self._loader(ds, shuffle=False) if len(ds) else []

    def predict_dataloader(self) -> DataLoader:
        """The test subject's windows, or, without one, every video's (new videos to classify)."""
        if self.test_subject is not None:
            return self.test_dataloader()
        windows = [w for part in ("train", "val") for w in self.windows_of(part, self.test_stride)]
        dataset = CachedWindowDataset(self.cache, windows, self.window, item_norm=self.item_norm)
        return self._loader(dataset, shuffle=False)


#: floor of a descriptor channel's per-subject standard deviation (relative to its mean over
#: channels), so a channel that never varies for one patient is not blown up
SUBJECT_STD_FLOOR = 0.05


def subject_statistics(cache, records: Sequence[Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per item: the mean and standard deviation [D] of every frame of its subject's videos
    (crop 0; label-free). A record without a subject id is its own subject. Standardising each
    patient by their own statistics removes what is constant for a patient (the room, the
    camera, the patient's look) and leaves how the descriptors change (``data.subject_norm``;
    transductive: it uses the held-out patient's own unlabelled frames)."""
    groups: dict[str, list[str]] = {}
    for r in records:
        key = str(r.subject_id) if r.subject_id not in (None, "") else f"video:{r.video_id}"
        groups.setdefault(key, []).append(r.video_id)
    out = {}
    for items in groups.values():
        frames = np.concatenate([np.asarray(cache.features(i)[:, 0], np.float32) for i in items])
        mean, std = frames.mean(0), frames.std(0)
        std = np.maximum(std, SUBJECT_STD_FLOOR * float(std.mean()) + 1e-6).astype(np.float32)
        for i in items:
            out[i] = (mean.astype(np.float32), std)
    return out
