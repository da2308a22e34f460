"""LOSO folds, leakage guards and class weights (seizure_lightning.loso.splits)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch

from seizure_lightning.loso.splits import (
    LeakageError,
    SubjectSplit,
    assert_no_subject_leakage,
    check_pretrain_overlap,
    class_weights,
    inner_validation_subjects,
    loso_subjects,
    split_fold,
    subject_majority_labels,
)
from seizure_lightning.utils.naming import natural_sorted


@dataclass(frozen=True)
class Record:
    video_id: str
    subject_id: str
    label: str


def manifest() -> pd.DataFrame:
    rows = [
        ("v1", "S10", "ES"),
        ("v2", "S2", "PNES"),
        ("v3", "S1", "ES"),
        ("v4", "S2", "PNES"),
        ("v5", "S10", "ES"),
        ("v6", "P3", "PNES"),
        ("v7", "S1", "ES"),
    ]
    return pd.DataFrame(rows, columns=["video_id", "subject_id", "label"])


def test_loso_subjects_from_manifest_natural_order() -> None:
    assert loso_subjects(manifest()["subject_id"]) == ["P3", "S1", "S2", "S10"]
    assert loso_subjects(["s2", "S10", " S2 ", None, "", "S2"]) == ["S2", "s2", "S10"]
    assert natural_sorted(["a10b2", "a2b10", "a2b3"]) == ["a2b3", "a2b10", "a10b2"]


def test_split_fold_frame_keeps_index_and_order() -> None:
    frame = manifest()
    for subject in loso_subjects(frame["subject_id"]):
        train, test = split_fold(frame, subject)
        assert set(test["subject_id"]) == {subject}
        assert subject not in set(train["subject_id"])
        assert len(train) + len(test) == len(frame)
    train, test = split_fold(frame, "S2")
    assert test["video_id"].tolist() == ["v2", "v4"] and test.index.tolist() == [1, 3]
    assert train["video_id"].tolist() == ["v1", "v3", "v5", "v6", "v7"]


def test_split_fold_records_and_dicts() -> None:
    records = [Record(*row) for row in manifest().itertuples(index=False)]
    train, test = split_fold(records, "S10")
    assert [r.video_id for r in test] == ["v1", "v5"] and len(train) == 5
    dicts = manifest().to_dict(orient="records")
    train, test = split_fold(dicts, "P3")
    assert [r["video_id"] for r in test] == ["v6"]


def test_split_fold_unknown_subject_lists_known() -> None:
    with pytest.raises(ValueError, match=r"'S99'.*P3, S1, S2, S10"):
        split_fold(manifest(), "S99")


def test_subject_majority_labels() -> None:
    frame = pd.DataFrame(
        {"subject_id": ["A", "A", "A", "B", "B"], "label": ["es", "PNES", "PNES", "ES", "PNES"]}
    )
    assert subject_majority_labels(frame) == {"A": "PNES", "B": "ES"}  # B: tie -> ES


def test_inner_validation_stratified_and_deterministic() -> None:
    labels = {f"S{i}": "ES" for i in range(1, 21)} | {f"S{i}": "PNES" for i in range(21, 31)}
    val = inner_validation_subjects(labels, fraction=0.15, seed=3, test_subject="S5")
    assert val == inner_validation_subjects(labels, fraction=0.15, seed=3, test_subject="S5")
    assert "S5" not in val and val == natural_sorted(val)
    by_class = {lab: sum(labels[s] == lab for s in val) for lab in ("ES", "PNES")}
    assert by_class == {"ES": 3, "PNES": 2}  # round(.15*19) = 3, round(.15*10) = 2 (>= 1)
    seeds = {tuple(inner_validation_subjects(labels, seed=s)) for s in range(10)}
    assert len(seeds) > 1


def test_inner_validation_small_classes() -> None:
    # PNES has two subjects: one goes to validation even at a tiny fraction; ES has one: kept.
    labels = {"S1": "ES", "S2": "PNES", "S3": "PNES"}
    val = inner_validation_subjects(labels, fraction=0.01)
    assert len(val) == 1 and labels[val[0]] == "PNES"
    assert inner_validation_subjects(labels, fraction=0.0) == []
    with pytest.raises(ValueError, match="fraction"):
        inner_validation_subjects(labels, fraction=1.0)


def test_leakage_guard_names_subjects() -> None:
    assert_no_subject_leakage(["S1", "S2"], ["S3"])
    with pytest.raises(LeakageError, match=r"fold S2: .*S2, S10"):
        assert_no_subject_leakage(["S1", "S10", "S2"], ["S10", "S2"], what="fold S2")


def test_pretrain_overlap_guard() -> None:
    assert check_pretrain_overlap(["S1", None, "S3"], "S2", allow=False) is False
    assert check_pretrain_overlap(None, "S2", allow=False) is False
    with pytest.raises(LeakageError, match=r"'S3'.*loso\.allow_pretrain_overlap=true"):
        check_pretrain_overlap(["S1", None, "S3"], "S3", allow=False)
    assert check_pretrain_overlap(["S1", "S3"], "S3", allow=True) is True


def test_class_weights_reciprocal_counts() -> None:
    assert class_weights([0, 0, 0, 1]) == pytest.approx([1 / 3, 1.0])
    assert class_weights(torch.tensor([1, 1, 0, 1, 1])) == pytest.approx([1.0, 0.25])
    assert class_weights(np.array([2, 0, 1]), num_classes=3) == pytest.approx([1.0, 1.0, 1.0])


def test_class_weights_errors() -> None:
    with pytest.raises(ValueError, match=r"no training sample of class PNES \(1\)"):
        class_weights([0, 0])
    with pytest.raises(ValueError, match=r"\[2\] not in \[0, 2\)"):
        class_weights([0, 1, 2])
    with pytest.raises(ValueError, match="no labels"):
        class_weights([])


def test_subject_split_parts_are_disjoint_and_stratified() -> None:
    records = [{"subject_id": f"P{i:02d}", "label": "ES" if i <= 8 else "PNES"}
               for i in range(1, 17)]
    split = SubjectSplit(val_fraction=0.25, seed=0)(records, "P01")
    assert split["test"] == ["P01"] and split == SubjectSplit(val_fraction=0.25, seed=0)(
        records, "P01")
    assert not set(split["train"]) & set(split["val"]) and "P01" not in split["train"]
    assert sorted([*split["train"], *split["val"], *split["test"]]) == sorted(
        r["subject_id"] for r in records)
    assert {r["label"] for r in records if r["subject_id"] in split["val"]} == {"ES", "PNES"}
    with pytest.raises(ValueError, match="not a subject"):
        SubjectSplit()(records, "P99")
