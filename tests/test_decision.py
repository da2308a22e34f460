"""Tests of the fold decision rule (argmax vs a threshold chosen on the inner validation)."""

from __future__ import annotations

import numpy as np
import pytest

from seizure_lightning.evaluation.decision import balanced_accuracy_at, choose_threshold


def test_balanced_accuracy_by_hand() -> None:
    y = np.array([0, 0, 0, 1])
    p = np.array([0.1, 0.2, 0.6, 0.4])
    assert balanced_accuracy_at(y, p, 0.5) == pytest.approx((2 / 3 + 0) / 2)
    assert balanced_accuracy_at(y, p, 0.3) == pytest.approx((2 / 3 + 1) / 2)
    assert balanced_accuracy_at(y, p, 0.7) == pytest.approx(0.5)


def test_separable_but_biased_validation_gets_the_midpoint() -> None:
    """Every probability below 0.5 (a biased model that still ranks well): the threshold moves
    to the gap between the classes."""
    y = [0, 0, 0, 1, 1]
    p = [0.05, 0.1, 0.2, 0.3, 0.35]
    t = choose_threshold(y, p)
    assert t == pytest.approx(0.25)
    assert balanced_accuracy_at(np.array(y), np.array(p), t) == 1.0


def test_ties_keep_the_paper_rule() -> None:
    # 0.5 already separates the classes: among the equally good thresholds it is the closest
    assert choose_threshold([0, 1], [0.2, 0.9]) == 0.5
    # a validation set with no signal cannot move the threshold away from 0.5 either
    assert choose_threshold([0, 1], [0.4, 0.4]) == 0.5


def test_overlap_picks_the_best_balanced_accuracy() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.45, 0.7, 0.4, 0.8])
    t = choose_threshold(y, p)
    best = max(balanced_accuracy_at(y, p, c) for c in np.linspace(0, 1, 1001))
    assert balanced_accuracy_at(y, p, t) == pytest.approx(best)


def test_one_class_or_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="both classes"):
        choose_threshold([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="differ in length"):
        choose_threshold([0, 1], [0.1])


def test_one_decision_rule_and_its_ties() -> None:
    """``decide`` is the rule of the sweep, its report and ``predict``: a tie is ES under argmax
    and at a threshold alike."""
    from seizure_lightning.evaluation.aggregate import predictions_frame
    from seizure_lightning.evaluation.decision import decide

    probs = np.array([[0.5, 0.5], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    assert decide(probs).tolist() == [0, 1, 0, 1]
    assert decide(probs, 0.5).tolist() == [0, 1, 0, 1]
    assert decide(probs, 0.6).tolist() == [0, 0, 0, 1]  # p_PNES == threshold -> ES
    frame = predictions_frame(list("abcd"), list("ssss"), ["ES"] * 4, probs, threshold=0.6)
    assert frame.pred.tolist() == ["ES", "ES", "ES", "PNES"]


def test_remove_offsets_puts_each_offset_at_one_half() -> None:
    from seizure_lightning.evaluation.decision import remove_offsets

    p = np.array([0.30, 0.35, 0.60, 0.62])
    offsets = [0.32, 0.32, 0.61, None]  # None: no offset
    q = remove_offsets(p, offsets)
    assert q[0] < 0.5 < q[1] and q[2] < 0.5 and q[3] == pytest.approx(0.62)
    # within one offset the order is kept; across offsets the offset is gone
    assert q[1] > q[2]
    assert remove_offsets([0.7], [0.7])[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in length"):
        remove_offsets([0.1, 0.2], [0.5])
