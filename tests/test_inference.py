"""The one inference path (engine.inference.predict_videos): a classifier's window softmax,
its mean per video, the decision rule; for every part of a fold and for new videos."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from seizure_lightning.engine.inference import predict_videos
from seizure_lightning.lightning_modules.classifier import ClassifierModule

DIM, LEN, FPS = 8, 16, 8.0
ENCODER = dict(input_dim=DIM, d_model=16, num_layers=1, num_heads=2, ffn_dim=32,
               max_positions=LEN, dropout=0.0, attention_dropout=0.0)


class Windows(Dataset):
    """Random descriptor windows ``(video_idx, start frame, label)``."""

    def __init__(self, rows: list[tuple[int, int, int]]) -> None:
        self.rows = rows
        generator = torch.Generator().manual_seed(len(rows))
        self.features = torch.randn(len(rows), LEN, DIM, generator=generator)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        video, start, label = self.rows[i]
        return {"features": self.features[i], "attention_mask": torch.ones(LEN, dtype=torch.bool),
                "video_idx": torch.tensor(video), "start": torch.tensor(start),
                "label": torch.tensor(label)}


class FoldData(pl.LightningDataModule):
    """A fold's DataModule as the inference path reads it: the video table, the window length,
    and a loader per part (none for the inner validation subjects here)."""

    window = LEN

    def __init__(self) -> None:
        super().__init__()
        self.videos = pd.DataFrame({
            "video_id": ["v0", "v1", "v2"], "subject_id": ["P1", "P1", "P2"],
            "label": ["ES", "PNES", "PNES"], "frames": [32, 40, 16], "fps": FPS})
        self.parts = {"test": Windows([(0, 0, 0), (0, 16, 0), (1, 0, 1), (1, 16, 1), (1, 24, 1)]),
                      "train": Windows([(2, 0, 1)])}

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.parts["test"], batch_size=2)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def part_dataloader(self, part: str) -> DataLoader | list:
        return DataLoader(self.parts[part], batch_size=2) if part in self.parts else []


def _trainer() -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)


def _expected(module: ClassifierModule, windows: Windows) -> dict[int, np.ndarray]:
    """Each video's mean window softmax, by hand."""
    module.eval()
    with torch.no_grad():
        logits = module(windows.features, torch.ones(len(windows), LEN, dtype=torch.bool))
    probs = logits.float().softmax(-1).numpy()
    videos = np.array([r[0] for r in windows.rows])
    return {int(v): probs[videos == v].mean(0) for v in np.unique(videos)}


@pytest.fixture
def module() -> ClassifierModule:
    torch.manual_seed(0)
    return ClassifierModule(encoder=ENCODER, dropout=0.0)


def test_test_part_is_the_mean_window_softmax_per_video(module: ClassifierModule) -> None:
    data = FoldData()
    found = predict_videos(_trainer(), module, data, "test")
    expected = _expected(module, data.parts["test"])
    assert found.videos.video_id.tolist() == ["v0", "v1"]
    assert found.videos.n_windows.tolist() == [2, 3]
    for row, idx in zip(found.videos.itertuples(), (0, 1), strict=True):
        assert (row.p_ES, row.p_PNES) == pytest.approx(tuple(expected[idx]), abs=1e-6)
        assert row.pred == ("PNES" if expected[idx][1] > expected[idx][0] else "ES")
    windows = found.windows
    assert len(windows) == 5 and windows.start_s.tolist() == [0.0, 2.0, 0.0, 2.0, 3.0]
    # the last window of v1 starts at frame 24 of 40: 16 real frames, end at 40 / fps
    assert windows.end_s.iloc[-1] == pytest.approx(40 / FPS)


def test_threshold_decides_and_parts(module: ClassifierModule) -> None:
    data = FoldData()
    p = predict_videos(_trainer(), module, data, "test").videos.p_PNES.to_numpy()
    for threshold in (p.min() - 1e-3, p.max() + 1e-3, float(p.mean())):
        found = predict_videos(_trainer(), module, data, "all", threshold=threshold)
        assert found.videos.pred.tolist() == ["PNES" if x > threshold else "ES" for x in p]
    train = predict_videos(_trainer(), module, data, "train").videos
    assert train.video_id.tolist() == ["v2"]
    assert train.p_PNES.iloc[0] == pytest.approx(_expected(module, data.parts["train"])[2][1],
                                                 abs=1e-6)
    assert predict_videos(_trainer(), module, data, "val") is None  # no such subjects
    with pytest.raises(ValueError, match="part must be one of"):
        predict_videos(_trainer(), module, data, "holdout")
