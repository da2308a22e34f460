"""The LOSO diagnostic (seizure_lightning.loso.diagnose): per-fold scores of training vs
held-out subjects."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from seizure_lightning.evaluation.fold_record import FoldRecord, record_path
from seizure_lightning.loso.diagnose import (
    diagnose_model,
    diagnose_sweep,
    fold_offsets,
    fold_shifts,
    main,
    offset_removed_test_scores,
)


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
    assert "| tiny | 4 | 1.000 | n/a | 0.000 | +0.830 | -0.895 |" in out  # shifts signed
    # every fold has the same offset: it ranks nothing, and removing it changes nothing
    assert out.rstrip().endswith("| 0.500 | 0.000 | last |")
    assert (tmp_path / "d.md").read_text() == diagnose_sweep(tmp_path / "sweep")
    with pytest.raises(FileNotFoundError):
        diagnose_model(tmp_path)


def test_fold_offsets_rank_held_out_patients_when_untrained_folds_share_a_class(
        tmp_path: Path) -> None:
    """Folds that tested barely trained weights (epoch 2) score everyone at their initial
    offset; when they are the ES folds, the offsets alone rank the held-out patients backwards,
    and the diagnostic says so."""
    folds = {"P1": ("ES", 0.64, 2, {"ES": 0.641, "PNES": 0.639}),
             "P2": ("ES", 0.65, 2, {"ES": 0.651, "PNES": 0.649}),
             "P3": ("PNES", 0.52, 25, {"ES": 0.45, "PNES": 0.56}),
             "P4": ("PNES", 0.47, 20, {"ES": 0.44, "PNES": 0.55})}
    for fold, (label, p, epoch, train) in folds.items():
        folder = tmp_path / "sweep" / "probe" / f"fold={fold}"
        folder.mkdir(parents=True)
        _scores(fold, label, p, train).to_csv(folder / "fold_scores.csv", index=False)
        FoldRecord(fold=fold, model="probe", tested_checkpoint=(
            f"/x/checkpoints/epoch{epoch - 1:03d}-step000010.ckpt")).to_json(record_path(folder))
    model = diagnose_model(tmp_path / "sweep" / "probe")
    assert model["auroc_test"] == pytest.approx(0.0)
    assert model["auroc_offsets"] == pytest.approx(0.0)
    assert model["tested_epoch"] == "2 / 11"
    # without the offsets the untrained folds sit at 0.5, between the trained PNES folds
    assert model["auroc_test_offset_removed"] == pytest.approx(0.5)
    removed = offset_removed_test_scores(pd.concat([
        _scores("A", "PNES", 0.5, {"ES": 0.2, "PNES": 0.6}), _scores("B", "ES", 0.9, {"ES": 0.2})]))
    assert removed.set_index("fold").p_PNES.to_dict() == pytest.approx(
        {"A": 0.6, "B": 0.9})  # A: logit(0.5) - logit(0.4); B has no offset and keeps its score
    offsets = fold_offsets(pd.concat([_scores("A", "ES", 0.9, {"ES": 0.2, "PNES": 0.6}),
                                      _scores("B", "ES", 0.9, {"ES": 0.2})]))
    assert offsets.set_index("fold").p_PNES.to_dict() == pytest.approx({"A": 0.4})
