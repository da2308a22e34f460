"""Figures on hand-computed cases, the paper's Table 3, the bootstrap (evaluation.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_matthews_corrcoef,
)

from seizure_lightning.evaluation.metrics import (
    METRICS,
    as_class_index,
    binary_figures,
    bootstrap_ci,
    cluster_weights,
    evaluate,
    majority_baseline,
    subject_table,
    weighted_figures,
)


def table3_frame() -> pd.DataFrame:
    """The paper's video-wise confusion matrix (181, 54 / 15, 33), 52 ES and 29 PNES patients."""
    rng = np.random.default_rng(0)
    rows = []
    cells = [("ES", "ES", 181), ("ES", "PNES", 54), ("PNES", "ES", 15), ("PNES", "PNES", 33)]
    for label, pred, count in cells:
        subjects = [f"S{i}" for i in (range(1, 53) if label == "ES" else range(53, 82))]
        for i in range(count):
            p = rng.uniform(0.5, 1.0) if pred == "PNES" else rng.uniform(0.0, 0.5)
            rows.append(
                {
                    "video_id": f"v{len(rows)}",
                    "subject_id": subjects[i % len(subjects)],
                    "label": label,
                    "pred": pred,
                    "p_ES": 1 - p,
                    "p_PNES": p,
                }
            )
    return pd.DataFrame(rows)


def test_table3_figures() -> None:
    frame = table3_frame()
    metrics = evaluate(frame, n_boot=200, seed=0)
    video = metrics["video"]
    assert video["confusion"] == [[181, 54], [15, 33]]
    expected = {
        "accuracy": 0.756,
        "f1_es": 0.840,
        "f1_pnes": 0.489,
        "balanced_accuracy": 0.729,
        "mcc": 0.372,
        "f1_macro": 0.664,
    }
    assert {k: round(video[k], 3) for k in expected} == expected
    assert round(metrics["majority_baseline"]["video"]["accuracy"], 3) == 0.830
    assert metrics["majority_baseline"]["video"]["confusion"] == [[235, 0], [48, 0]]
    assert metrics["paper_f1"] == "f1_es"
    assert metrics["counts"]["n_subjects"] == 81
    assert metrics["counts"]["subjects_per_class"] == {"ES": 52, "PNES": 29}
    for name in ("accuracy", "f1_es", "mcc"):
        ci = video["ci"][name]
        assert ci["low"] <= video[name] <= ci["high"] and ci["n_valid"] == 200


def test_hand_computed_case() -> None:
    labels = ["ES", "ES", "ES", "PNES", "PNES"]
    preds = ["ES", "PNES", "ES", "PNES", "ES"]
    p = [0.1, 0.6, 0.4, 0.9, 0.4]
    f = binary_figures(labels, preds, p)
    assert f["confusion"] == [[2, 1], [1, 1]]
    assert f["accuracy"] == pytest.approx(3 / 5)
    assert f["recall_es"] == pytest.approx(2 / 3) and f["specificity"] == f["recall_es"]
    assert f["recall_pnes"] == pytest.approx(1 / 2) and f["sensitivity"] == f["recall_pnes"]
    assert f["precision_es"] == pytest.approx(2 / 3) and f["precision_pnes"] == pytest.approx(1 / 2)
    assert f["f1_es"] == pytest.approx(2 / 3) and f["f1_pnes"] == pytest.approx(1 / 2)
    assert f["balanced_accuracy"] == pytest.approx(7 / 12)
    assert f["mcc"] == pytest.approx((2 * 1 - 1 * 1) / math.sqrt(3 * 2 * 3 * 2))
    # pairs (pos, neg): 0.9 beats all 3; 0.4 beats 0.1, ties 0.4, loses to 0.6 -> (3 + 1.5) / 6
    assert f["auroc"] == pytest.approx(4.5 / 6)
    assert f["brier"] == pytest.approx((0.01 + 0.36 + 0.16 + 0.01 + 0.36) / 5)
    assert f["n_per_class"] == {"ES": 3, "PNES": 2} and f["notes"] == []


def test_vectorised_core_matches_torchmetrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    p = np.round(rng.uniform(size=60), 1)  # many ties
    pred = (p > 0.45).astype(int)
    core = {k: v[0] for k, v in weighted_figures(y, pred, p, np.ones((1, 60))).items()}
    ty, tp = torch.tensor(y), torch.tensor(p)
    assert core["auroc"] == pytest.approx(float(binary_auroc(tp, ty)))
    assert core["auprc"] == pytest.approx(float(binary_average_precision(tp, ty)))
    assert core["mcc"] == pytest.approx(
        float(binary_matthews_corrcoef(torch.tensor(pred), ty)), abs=1e-6
    )


def test_weighted_replicate_equals_explicit_resample() -> None:
    frame = table3_frame()
    weights = cluster_weights(frame["subject_id"], n_boot=3, seed=7)
    y, pred = as_class_index(frame["label"]), as_class_index(frame["pred"])
    p = frame["p_PNES"].to_numpy()
    reps = weighted_figures(y, pred, p, weights)
    rows = np.repeat(np.arange(len(frame)), weights[1].astype(int))
    explicit = binary_figures(y[rows], pred[rows], p[rows])
    for name in METRICS:
        assert reps[name][1] == pytest.approx(explicit[name]), name
    # every video of a patient has that patient's multiplicity
    for _, idx in frame.groupby("subject_id").indices.items():
        assert np.all(weights[:, idx] == weights[:, idx[:1]])


def test_bootstrap_deterministic_by_seed() -> None:
    frame = table3_frame()
    args = (frame["label"], frame["pred"], frame["p_PNES"], frame["subject_id"])
    a = bootstrap_ci(*args, n_boot=300, seed=5)
    assert a == bootstrap_ci(*args, n_boot=300, seed=5)
    assert a != bootstrap_ci(*args, n_boot=300, seed=6)


def test_degenerate_single_class_is_nan_with_note() -> None:
    f = binary_figures(["ES", "ES", "ES"], ["ES", "PNES", "ES"], [0.2, 0.7, 0.1])
    assert math.isnan(f["auroc"]) and math.isnan(f["auprc"]) and math.isnan(f["mcc"])
    assert math.isnan(f["recall_pnes"]) and math.isnan(f["balanced_accuracy"])
    assert f["accuracy"] == pytest.approx(2 / 3)
    assert any("no true PNES" in n for n in f["notes"])
    ci = bootstrap_ci(["ES", "ES"], ["ES", "ES"], [0.1, 0.2], ["A", "B"], n_boot=20)
    assert ci["auroc"] == {"low": None, "high": None, "n_valid": 0}


def test_single_predicted_class_mcc_zero() -> None:
    f = binary_figures(["ES", "PNES", "ES"], ["ES", "ES", "ES"], [0.2, 0.2, 0.2])
    assert f["mcc"] == 0.0 and math.isnan(f["precision_pnes"]) and f["f1_pnes"] == 0.0
    assert f["auroc"] == pytest.approx(0.5)
    assert any("nothing predicted PNES" in n for n in f["notes"])


def test_subject_table_vote_and_tie() -> None:
    frame = pd.DataFrame(
        {
            "video_id": list("abcdef"),
            "subject_id": ["S2", "S2", "S2", "S10", "S10", "S1"],
            "label": ["PNES", "PNES", "PNES", "ES", "ES", "ES"],
            "pred": ["PNES", "ES", "PNES", "PNES", "ES", "ES"],
            "p_ES": [0.2, 0.6, 0.3, 0.45, 0.6, 0.9],
            "p_PNES": [0.8, 0.4, 0.7, 0.55, 0.4, 0.1],
        }
    )
    table = subject_table(frame).set_index("subject_id")
    assert table.index.tolist() == ["S1", "S2", "S10"]
    assert table.at["S2", "pred"] == "PNES" and table.at["S2", "accuracy"] == pytest.approx(2 / 3)
    assert table.at["S10", "pred"] == "ES"  # 1-1 vote; mean p_PNES 0.475 <= 0.5
    assert table.at["S10", "p_PNES"] == pytest.approx(0.475)


def test_majority_baseline_uses_training_folds() -> None:
    # Holding out S1 leaves a PNES majority for its fold; every other fold has an ES majority.
    frame = pd.DataFrame(
        {
            "video_id": list("abcdef"),
            "subject_id": ["S1", "S1", "S1", "S2", "S3", "S3"],
            "label": ["ES", "ES", "ES", "PNES", "PNES", "PNES"],
            "pred": ["ES"] * 6,
            "p_ES": [0.5] * 6,
            "p_PNES": [0.5] * 6,
        }
    )
    base = majority_baseline(frame)
    assert base["pred"].tolist() == ["PNES"] * 3 + ["ES"] * 3
    assert np.allclose(base["p_PNES"], 0.5)
    table3 = majority_baseline(table3_frame())
    assert set(table3["pred"]) == {"ES"} and np.allclose(table3["p_PNES"], 48 / 283)


def test_as_class_index_rejects_unknown() -> None:
    assert as_class_index(["es", " PNES"]).tolist() == [0, 1]
    with pytest.raises(ValueError, match="unknown label 'X'"):
        as_class_index(["ES", "X"])
    with pytest.raises(ValueError, match="0 \\(ES\\) or 1"):
        as_class_index([0, 2])
