"""The LOSO diagnostic (seizure_lightning.loso.diagnose): per-fold scores of training vs
held-out subjects."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from seizure_lightning.loso.diagnose import diagnose_model, diagnose_sweep, fold_shifts, main


def _scores(fold: str, test_label: str, test_p: float, train: dict[str, float]) -> pd.DataFrame:
    rows = [{"video_id": f"{fold}-t", "subject_id": fold, "label": test_label, "part": "test",
             "p_PNES": test_p, "fold": fold}]
    for i, (label, p) in enumerate(train.items()):
        rows.append({"video_id": f"{fold}-{i}", "subject_id": f"S{i}", "label": label,
                     "part": "train", "p_PNES": p, "fold": fold})
    return pd.DataFrame(rows)


def test_shift_is_the_held_out_patient_against_its_own_class() -> None:
    scores = pd.concat([_scores("P1", "PNES", 0.1, {"ES": 0.2, "PNES": 0.9}),
                        _scores("P2", "ES", 0.3, {"ES": 0.1, "PNES": 0.8})])
    shifts = fold_shifts(scores).set_index("fold")
    assert shifts.loc["P1", "shift"] == pytest.approx(-0.8)  # a PNES patient scored like ES
    assert shifts.loc["P2", "shift"] == pytest.approx(0.2)


def test_sweep_table_and_cli(tmp_path: Path, capsys) -> None:
    # a model that memorises: training subjects perfectly apart, new patients reversed
    for fold, label, p in (("P1", "PNES", 0.05), ("P2", "ES", 0.9), ("P3", "PNES", 0.1),
                           ("P4", "ES", 0.8)):
        folder = tmp_path / "sweep" / "tiny" / f"fold={fold}"
        folder.mkdir(parents=True)
        _scores(fold, label, p, {"ES": 0.02, "PNES": 0.97}).to_csv(folder / "fold_scores.csv",
                                                                     index=False)
    model = diagnose_model(tmp_path / "sweep" / "tiny")
    assert model["auroc_train"] == pytest.approx(1.0) and model["auroc_test"] == pytest.approx(0.0)
    assert model["shift_PNES"] < -0.8 and model["shift_ES"] > 0.8
    assert main([str(tmp_path / "sweep"), "--out", str(tmp_path / "d.md")]) == 0
    out = capsys.readouterr().out
    assert "| tiny | 4 | 1.000 | n/a | 0.000 |" in out
    assert (tmp_path / "d.md").read_text() == diagnose_sweep(tmp_path / "sweep")
    with pytest.raises(FileNotFoundError):
        diagnose_model(tmp_path)
