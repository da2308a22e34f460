"""``python -m seizure_lightning.report.pooled`` pools LOSO sweeps into one patient
population."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from seizure_lightning.report import pooled as pooled_seeds


def _write(sweep: Path, model: str, p_pnes: list[float]) -> None:
    rows = []
    for i, p in enumerate(p_pnes):
        subject, label = f"P{i + 1:02d}", ("PNES" if i % 2 else "ES")
        rows.append({"video_id": f"SZ{i + 1:04d}", "subject_id": subject, "label": label,
                     "pred": "PNES" if p > 0.5 else "ES", "p_ES": 1 - p, "p_PNES": p,
                     "fold": subject})
    (sweep / model).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(sweep / model / "predictions.csv", index=False)


def test_same_ids_in_two_sweeps_are_different_patients(tmp_path: Path, capsys) -> None:
    a, b = tmp_path / "bench-seed6", tmp_path / "bench-seed7"
    for sweep in (a, b):
        _write(sweep, "good", [0.1, 0.9, 0.2, 0.8])  # right on every patient
        _write(sweep, "bad", [0.9, 0.1, 0.8, 0.2])  # wrong on every patient
    frame = pooled_seeds.pooled_predictions([a, b], "good")
    assert frame["subject_id"].nunique() == 8 and frame["video_id"].nunique() == 8
    assert set(frame["fold"]) >= {"bench-seed6/P01", "bench-seed7/P01"}
    assert pooled_seeds.main([str(a), str(b), "--model", "good", "--model", "bad",
                              "--compare", "good-bad", "--n-boot", "200"]) == 0
    out = capsys.readouterr().out
    assert "8 patients, 8 videos" in out
    assert "| `good` | 1.000 [1.000, 1.000]" in out and "| `bad` | 0.000 [0.000, 0.000]" in out
    assert "`good` − `bad`: balanced accuracy +1.000 [+1.000, +1.000]" in out
    assert pooled_seeds.main([str(a), str(b)]) == 2  # no default model in these sweeps
    assert "--model" in capsys.readouterr().err


def test_missing_model_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "s1", "good", [0.1, 0.9])
    (tmp_path / "s2").mkdir()
    with pytest.raises(FileNotFoundError, match=r"s2/good/predictions.csv"):
        pooled_seeds.pooled_predictions([tmp_path / "s1", tmp_path / "s2"], "good")
