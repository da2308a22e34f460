"""Leave-one-subject-out (LOSO) folds and the guards that keep them leakage-free.

Pure functions: no I/O, no training state. A "fold" is named by its held-out subject.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from seizure_lightning.constants import LABELS
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.naming import natural_sorted

log = get_logger(__name__)

T = TypeVar("T")

PRETRAIN_OVERLAP_KEY = "loso.allow_pretrain_overlap"


class LeakageError(RuntimeError):
    """A subject would be seen by training (or pre-training) and by the test of the same fold."""


def loso_subjects(subject_ids: Iterable[Any]) -> list[str]:
    """The LOSO folds: unique subject ids as strings, naturally sorted (``S2`` before ``S10``)."""
    subjects = {str(s).strip() for s in subject_ids if s is not None and not _is_nan(s)}
    subjects.discard("")
    return natural_sorted(subjects)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def _subject_of(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item["subject_id"]).strip()
    return str(item.subject_id).strip()


def split_fold(records_or_frame: pd.DataFrame | Sequence[T], test_subject: str):
    """Split records (objects or dicts with ``subject_id``) or a DataFrame into (train, test).

    ``test`` holds every item of ``test_subject``; ``train`` all others, in their original order
    (a DataFrame keeps its index). Raises ``ValueError`` if the subject is not in the data.
    """
    test_subject = str(test_subject)
    if isinstance(records_or_frame, pd.DataFrame):
        if "subject_id" not in records_or_frame.columns:
            raise ValueError("split_fold: the table has no 'subject_id' column")
        subjects = records_or_frame["subject_id"].astype(str).str.strip().tolist()
        is_test = np.array([s == test_subject for s in subjects], dtype=bool)
        train, test = records_or_frame[~is_test], records_or_frame[is_test]
    else:
        items = list(records_or_frame)
        subjects = [_subject_of(r) for r in items]
        test = [r for r, s in zip(items, subjects) if s == test_subject]
        train = [r for r, s in zip(items, subjects) if s != test_subject]
    if len(test) == 0:
        known = ", ".join(loso_subjects(subjects)) or "(none)"
        raise ValueError(f"test subject {test_subject!r} is not in the data; subjects: {known}")
    train_subjects = {s for s in subjects if s != test_subject}
    assert_no_subject_leakage(train_subjects, [test_subject], what="split_fold")
    return train, test


def subject_majority_labels(records_or_frame: pd.DataFrame | Sequence[Any]) -> dict[str, str]:
    """Each subject's majority video label (ties go to the label that comes first in ``LABELS``)."""
    if isinstance(records_or_frame, pd.DataFrame):
        pairs = zip(
            records_or_frame["subject_id"].astype(str), records_or_frame["label"].astype(str)
        )
    else:
        pairs = (
            (_subject_of(r), str(r["label"] if isinstance(r, Mapping) else r.label))
            for r in records_or_frame
        )
    counts: dict[str, Counter] = {}
    for subject, label in pairs:
        counts.setdefault(subject, Counter())[label.strip().upper()] += 1
    order = {label: i for i, label in enumerate(LABELS)}
    return {
        s: min(c, key=lambda lab, c=c: (-c[lab], order.get(lab, len(order)), lab))
        for s, c in ((s, counts[s]) for s in natural_sorted(counts))
    }


def _subjects_by_class(subject_labels: Mapping[str, str],
                       exclude: str | None = None) -> dict[str, list[str]]:
    """Subjects grouped by their (upper-cased) label, ``exclude`` left out."""
    by_class: dict[str, list[str]] = {}
    for subject, label in subject_labels.items():
        if exclude is not None and str(subject) == str(exclude):
            continue
        by_class.setdefault(str(label).strip().upper(), []).append(str(subject))
    return by_class


def inner_validation_subjects(
    train_subject_labels: Mapping[str, str],
    fraction: float = 0.15,
    seed: int = 0,
    *,
    test_subject: str | None = None,
) -> list[str]:
    """Pick validation subjects among the TRAINING subjects (model selection never sees the test).

    Stratified by each subject's (majority) label: per class ``round(fraction * n)`` subjects, at
    least one when the class has two or more subjects, and never the class's last subject (the
    training split keeps every class). ``test_subject``, if given, is excluded. Deterministic in
    ``seed``; returned naturally sorted.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    by_class = _subjects_by_class(train_subject_labels, exclude=test_subject)
    if fraction == 0.0:
        return []
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    for label in sorted(by_class):
        members = natural_sorted(by_class[label])
        n = len(members)
        k = min(max(1, round(fraction * n)), n - 1) if n >= 2 else 0
        if k == 0:
            log.warning(
                "inner validation: class %s has %d training subject(s); none held out", label, n
            )
            continue
        picks = rng.permutation(n)[:k]
        chosen.extend(members[i] for i in picks)
    assert_no_subject_leakage(chosen, [] if test_subject is None else [test_subject], "inner val")
    return natural_sorted(chosen)


@dataclass(frozen=True)
class SubjectSplit:
    """A fold's subjects: the test subject, inner validation subjects drawn from the training
    subjects (stratified by class, :func:`inner_validation_subjects`) and the rest for training;
    every pair of parts checked for leakage. The seizure DataModule calls it (``data.split``).
    """

    val_fraction: float = 0.15
    seed: int = 0

    def __call__(self, records: Sequence[Any], test_subject: str | None) -> dict[str, list[str]]:
        subjects = loso_subjects(_subject_of(r) for r in records)
        if test_subject is not None and test_subject not in subjects:
            raise ValueError(f"data.test_subject={test_subject!r} is not a subject of the "
                             f"manifest (subjects: {', '.join(subjects)})")
        test = [test_subject] if test_subject else []
        rest = [r for r in records if _subject_of(r) not in test]
        val = inner_validation_subjects(subject_majority_labels(rest), self.val_fraction,
                                        self.seed)
        train = [s for s in subjects if s not in test and s not in val]
        assert_no_subject_leakage(train, test, what="train/test")
        assert_no_subject_leakage(val, test, what="validation/test")
        assert_no_subject_leakage(train, val, what="train/validation")
        return {"train": train, "val": list(val), "test": test}


def assert_no_subject_leakage(
    train_subjects: Iterable[Any], test_subjects: Iterable[Any], what: str = "train/test"
) -> None:
    """Raise :class:`LeakageError` naming every subject found on both sides."""
    both = set(map(str, train_subjects)) & set(map(str, test_subjects))
    if both:
        names = ", ".join(natural_sorted(both))
        raise LeakageError(f"{what}: subject(s) in both training and test: {names}")


def check_pretrain_overlap(
    pretrain_subjects_seen: Iterable[Any] | None, test_subject: str, allow: bool
) -> bool:
    """Whether the pre-training export saw the test subject's contextual video.

    Raises :class:`LeakageError` on overlap unless ``allow`` (``loso.allow_pretrain_overlap=true``);
    returns ``True`` when an allowed overlap happened so that the report can state it. Clips
    without a subject id (``None``/empty) cannot be attributed and are ignored.
    """
    seen = {str(s) for s in (pretrain_subjects_seen or ()) if s is not None and not _is_nan(s)}
    seen.discard("")
    overlap = str(test_subject) in seen
    if overlap and not allow:
        raise LeakageError(
            f"the pre-training export saw contextual video of test subject {test_subject!r}; "
            f"pre-train without that subject, or set {PRETRAIN_OVERLAP_KEY}=true to accept "
            "the overlap (the report states it)"
        )
    if overlap:
        log.warning(
            "pre-training saw test subject %s (allowed by %s=true)",
            test_subject,
            PRETRAIN_OVERLAP_KEY,
        )
    return overlap


def class_weights(labels: Sequence[int] | Any, num_classes: int = 2) -> list[float]:
    """Cross-entropy class weights = 1 / (number of training samples of the class) (paper).

    Raises ``ValueError`` when a class has no sample (its weight would be infinite) or a label is
    outside ``[0, num_classes)``.
    """
    array = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).reshape(-1)
    if array.size == 0:
        raise ValueError("class_weights: no labels")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.mod(array, 1) == 0):
            raise ValueError("class_weights: labels must be integer class indices")
        array = array.astype(np.int64)
    bad = array[(array < 0) | (array >= num_classes)]
    if bad.size:
        raise ValueError(
            f"class_weights: label(s) {sorted(set(bad.tolist()))} not in [0, {num_classes})"
        )
    counts = np.bincount(array, minlength=num_classes)
    missing = [_class_name(c, num_classes) for c in range(num_classes) if counts[c] == 0]
    if missing:
        raise ValueError(
            f"class_weights: no training sample of class {', '.join(missing)}; the reciprocal "
            "weight is undefined (a fold whose training split lacks a class cannot be trained)"
        )
    return [1.0 / float(c) for c in counts]


def _class_name(index: int, num_classes: int) -> str:
    return f"{LABELS[index]} ({index})" if num_classes == len(LABELS) else str(index)
