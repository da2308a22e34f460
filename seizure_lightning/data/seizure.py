"""SeizureVideoDataModule: labelled seizure videos -> windows of cached descriptors.

LOSO: ``test_subject`` holds out every video of one subject; model selection uses an inner
validation split of TRAINING subjects only. A guard refuses any subject on both sides.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from torch.utils.data import DataLoader

from seizure_lightning.constants import LABEL_TO_INDEX
from seizure_lightning.data.base import DescriptorDataModule
from seizure_lightning.data.datasets import CachedWindowDataset, Window
from seizure_lightning.data.windows import window_starts
from seizure_lightning.evaluation.folds import (
    assert_no_subject_leakage,
    class_weights,
    inner_validation_subjects,
    subject_majority_labels,
)
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


class SeizureVideoDataModule(DescriptorDataModule):
    """Windows of 256 descriptors of seizure videos, split by subject."""

    kind = "seizures"

    def __init__(
        self,
        *,
        test_subject: str | None = None,
        val_fraction: float = 0.15,
        train_stride: int = 128,
        test_stride: int = 128,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.test_subject = None if test_subject in (None, "") else str(test_subject)
        self.val_fraction = float(val_fraction)
        self.train_stride = int(train_stride)
        self.test_stride = int(test_stride)
        self.videos: pd.DataFrame | None = None
        self.split: dict[str, list[str]] = {}

    def load_records(self, path: Path) -> list:
        from seizure_lightning.data.manifest import load_seizure_manifest

        return load_seizure_manifest(path, skip_bad_rows=self.skip_bad_rows)

    # ------------------------------------------------------------------ splits
    def subjects(self) -> list[str]:
        """Every subject of the manifest (the LOSO folds)."""
        from seizure_lightning.evaluation.folds import loso_subjects

        return loso_subjects(r.subject_id for r in self.records)

    def make_split(self) -> dict[str, list[str]]:
        """Subjects of train / val / test for this fold (leakage-checked)."""
        subjects = self.subjects()
        if self.test_subject is not None and self.test_subject not in subjects:
            raise ValueError(
                f"data.test_subject={self.test_subject!r} is not a subject of "
                f"{self.manifest_path()} (subjects: {', '.join(subjects)})"
            )
        test = [self.test_subject] if self.test_subject else []
        rest = [r for r in self.records if r.subject_id not in test]
        labels = subject_majority_labels(rest)
        val = inner_validation_subjects(labels, fraction=self.val_fraction, seed=self.seed)
        train = [s for s in subjects if s not in test and s not in val]
        assert_no_subject_leakage(train, test, what="train/test")
        assert_no_subject_leakage(val, test, what="validation/test")
        assert_no_subject_leakage(train, val, what="train/validation")
        return {"train": train, "val": list(val), "test": test}

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
                out.append(Window(row.video_id, int(idx), start, LABEL_TO_INDEX[row.label]))
        return out

    def dataset(self, part: str) -> CachedWindowDataset:
        stride = self.train_stride if part == "train" else self.test_stride
        return CachedWindowDataset(self.cache, self.windows_of(part, stride), self.window)

    def class_weights(self) -> list[float]:
        """Reciprocal of the number of TRAINING windows per class (paper)."""
        return class_weights([w.label for w in self.windows_of("train", self.train_stride)])

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

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()
