"""evaluation/subject_probe.py: how much subject identity a representation carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seizure_lightning.data.feature_cache import FeatureCache
from seizure_lightning.evaluation import subject_probe
from seizure_lightning.models.encoder_export import save_encoder_export
from seizure_lightning.models.input_representation import InputConfig
from seizure_lightning.models.sequence_encoder import SequenceEncoder, SequenceEncoderConfig
from tests.cache_fixtures import write_cache

DIM, FRAMES, SUBJECTS, VIDEOS = 8, 40, 4, 4


def identity_cache(root: Path, signal: float, seed: int = 0) -> Path:
    """Four subjects with four videos each; each subject's descriptors sit ``signal`` away
    from the others' (0: the subject cannot be told from a window)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(SUBJECTS, DIM))
    items = {}
    for s in range(SUBJECTS):
        for v in range(VIDEOS):
            x = 2.0 + signal * centres[s] + 0.3 * rng.normal(size=(FRAMES, 1, DIM))
            items[f"P{s}_v{v}"] = (x, f"P{s}")
    return write_cache(root, items)


def test_windows_cover_every_video_with_its_subject(tmp_path: Path) -> None:
    cache = FeatureCache.open(identity_cache(tmp_path / "c", signal=1.0))
    feats, masks, subjects, videos = subject_probe.seizure_windows(cache, window=32)
    # 40 frames, window 32, stride 16: starts 0 and 8 (the last aligned to the end)
    assert feats.shape == (SUBJECTS * VIDEOS * 2, 32, DIM) and bool(masks.all())
    assert videos[:2] == ["P0_v0", "P0_v0"] and subjects[-1] == "P3"
    padded, pad_masks, _, _ = subject_probe.seizure_windows(cache, window=64)
    assert padded.shape[0] == SUBJECTS * VIDEOS and int(pad_masks[0].sum()) == FRAMES


def test_probe_names_subjects_only_where_the_features_carry_them(tmp_path: Path) -> None:
    results = {}
    for signal in (3.0, 0.0):
        cache = FeatureCache.open(identity_cache(tmp_path / f"c{signal}", signal=signal))
        feats, masks, subjects, videos = subject_probe.seizure_windows(cache, window=16)
        results[signal] = subject_probe.probe(subject_probe.pool(feats, masks), subjects, videos)
    assert results[3.0]["accuracy"] == 1.0 and results[3.0]["chance"] == 0.25
    assert results[3.0]["subjects"] == SUBJECTS
    assert results[0.0]["accuracy"] < 0.6


def test_probe_needs_two_subjects_with_two_videos() -> None:
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="2 or more subjects"):
        subject_probe.probe(x, ["a", "a", "b", "c"], ["v1", "v2", "v3", "v4"])


def test_item_without_subject_is_named(tmp_path: Path) -> None:
    root = write_cache(tmp_path / "c", {"clip7": (np.ones((20, 1, DIM)), None)})
    with pytest.raises(ValueError, match="clip7"):
        subject_probe.seizure_windows(FeatureCache.open(root), window=16)


def test_cli_with_an_encoder_prints_and_writes_every_representation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = identity_cache(tmp_path / "c", signal=3.0)
    config = SequenceEncoderConfig(input_dim=DIM, d_model=16, num_layers=1, num_heads=2,
                                   ffn_dim=32, max_positions=32)
    encoder = save_encoder_export(tmp_path / "encoder.pt", SequenceEncoder(config),
                                  InputConfig(kind="window", descriptor_dim=DIM), ["P9"])
    out = tmp_path / "probe.json"
    assert subject_probe.main([str(cache), "--encoder", str(encoder), "--window", "32",
                               "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result == json.loads(capsys.readouterr().out)
    assert set(result) == {"raw", "window", "energy", "pretrained_encoder", "random_encoder"}
    assert result["raw"]["accuracy"] == 1.0
