"""Window averaging, the predictions contract and sweep gathering (evaluation.aggregate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seizure_lightning.evaluation.aggregate import (
    PREDICTION_COLUMNS,
    WINDOW_COLUMNS,
    PredictionsError,
    gather_fold_predictions,
    predictions_frame,
    read_predictions,
    validate_predictions,
    video_probabilities,
    windows_frame,
    write_csv,
)


def test_video_probabilities_mean_of_window_softmax() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    video = torch.tensor([2, 0, 2, 2, 0])
    out = video_probabilities(probs, video)
    assert list(out) == [0, 2]
    np.testing.assert_allclose(out[0], [0.4, 0.6])
    np.testing.assert_allclose(out[2], [1.7 / 3, 1.3 / 3])
    logits = torch.log(probs) + 5.0  # softmax is shift-invariant
    np.testing.assert_allclose(video_probabilities(logits, video, from_logits=True)[2], out[2])
    with pytest.raises(ValueError, match="from_logits"):
        video_probabilities(logits, video)


def test_predictions_frame_contract() -> None:
    frame = predictions_frame(
        ["a", "b"], ["S1", "S2"], [0, "pnes"], np.array([[0.7, 0.3], [0.5, 0.5]]), fold=["S1", "S2"]
    )
    assert tuple(frame.columns) == (*PREDICTION_COLUMNS, "fold")
    assert frame["label"].tolist() == ["ES", "PNES"]
    assert frame["pred"].tolist() == ["ES", "ES"]  # exact tie -> ES
    no_fold = predictions_frame(["a"], ["S1"], ["ES"], [[0.2, 0.8]])
    assert tuple(no_fold.columns) == PREDICTION_COLUMNS and no_fold["pred"][0] == "PNES"


def test_windows_frame_numbering_and_times() -> None:
    frame = windows_frame(
        ["v", "v", "w"],
        ["S1", "S1", "S2"],
        [1, 1, 0],
        np.array([[0.4, 0.6], [0.1, 0.9], [0.8, 0.2]]),
        start_frame=[128, 0, 0],
        n_frames=[100, 256, 50],
        fps=25.0,
    )
    assert tuple(frame.columns) == WINDOW_COLUMNS
    v = frame[frame["video_id"] == "v"]
    assert v["window"].tolist() == [0, 1] and v["start_s"].tolist() == [0.0, 5.12]
    assert v["end_s"].tolist() == pytest.approx([10.24, 9.12])
    assert v["p_PNES"].tolist() == [0.9, 0.6] and set(frame["fold"]) == {"S1", "S2"}


def _rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["v1", "v2", "v3"],
            "subject_id": ["S1", "S1", "S2"],
            "label": ["ES", "pnes", "ES"],
            "pred": ["ES", "ES", "PNES"],
            "p_ES": [0.9, 0.6, 0.2],
            "p_PNES": [0.1, 0.4, 0.8],
        }
    )


def test_validate_missing_column() -> None:
    with pytest.raises(PredictionsError, match=r"missing column.*p_PNES"):
        validate_predictions(_rows().drop(columns="p_PNES"))


def test_validate_names_rows() -> None:
    bad = _rows()
    bad.loc[1, "label"] = "seizure"
    bad.loc[2, "video_id"] = "v1"
    bad.loc[0, "p_PNES"] = 1.4
    with pytest.raises(PredictionsError) as info:
        validate_predictions(bad, source="preds.csv")
    text = str(info.value)
    assert "preds.csv" in text
    assert "row 3 (video 'v2'): unknown label 'seizure'" in text
    assert "rows 2, 4: duplicate video_id 'v1'" in text
    assert "row 2 (video 'v1'): p_PNES 1.4" in text


def test_csv_round_trip_atomic(tmp_path: Path) -> None:
    path = write_csv(_rows(), tmp_path / "predictions.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.csv"]
    frame = read_predictions(path)
    assert frame["label"].tolist() == ["ES", "PNES", "ES"]
    with pytest.raises(FileNotFoundError):
        read_predictions(tmp_path / "nope.csv")


def _fold(
    root: Path, name: str, subject: str, status: str | None, labels=("ES",), error=""
) -> None:
    fold_dir = root / name
    fold_dir.mkdir(parents=True)
    if status is not None:
        (fold_dir / "status.json").write_text(
            json.dumps({"status": status, "fold": subject, "error": error})
        )
    if status in (None, "ok"):
        n = len(labels)
        probs = np.tile([0.7, 0.3], (n, 1))
        write_csv(
            predictions_frame(
                [f"{subject}_v{i}" for i in range(n)], [subject] * n, list(labels), probs
            ),
            fold_dir / "predictions.csv",
        )
        write_csv(
            windows_frame(
                [f"{subject}_v0"] * 2,
                [subject] * 2,
                [labels[0]] * 2,
                probs[:1].repeat(2, 0),
                start_frame=[0, 128],
            ),
            fold_dir / "windows.csv",
        )


def test_gather_fold_predictions(tmp_path: Path) -> None:
    _fold(tmp_path, "0", "S1", "ok", labels=("ES", "ES"))
    _fold(tmp_path, "1", "S2", "failed", error="CUDA out of memory")
    _fold(tmp_path, "2", "S10", None, labels=("PNES",))  # no status.json: predictions exist -> ok
    _fold(tmp_path, "3", "S4", "failed", error="first try")  # failed, then ok on a re-run
    _fold(tmp_path, "4", "S4", "ok", labels=("PNES",))
    _fold(tmp_path, ".5.tmp", "S9", "ok")  # an unfinished atomic folder is ignored
    preds, windows, status = gather_fold_predictions(
        tmp_path, expected_folds=["S1", "S2", "S4", "S10", "S7"]
    )
    assert status["fold"].tolist() == ["S1", "S2", "S4", "S7", "S10"]
    assert status["status"].tolist() == ["ok", "failed", "ok", "missing", "ok"]
    assert status.set_index("fold").at["S2", "error"] == "CUDA out of memory"
    assert status["n_videos"].tolist() == [2, 0, 1, 0, 1]
    assert sorted(preds["fold"].unique()) == ["S1", "S10", "S4"] and len(preds) == 4
    assert windows is not None and set(windows["fold"]) == {"S1", "S10", "S4"}


def test_gather_rejects_duplicate_folds_and_empty(tmp_path: Path) -> None:
    _fold(tmp_path, "a", "S1", "failed")
    with pytest.raises(PredictionsError, match="no fold has predictions"):
        gather_fold_predictions(tmp_path)
    _fold(tmp_path, "b", "S1", "ok")
    _fold(tmp_path, "c", "S1", "ok")
    with pytest.raises(PredictionsError, match="fold 'S1' has predictions in two folders"):
        gather_fold_predictions(tmp_path)
