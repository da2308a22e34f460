"""Paired comparisons of the models of one sweep (``loso.compare``: "A-B" pairs of model
folders): video-level A − B with a paired patient-bootstrap CI (``metrics.paired_difference``)
on the same videos, the content of ``<sweep>/comparisons.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seizure_lightning.evaluation.aggregate import read_predictions
from seizure_lightning.evaluation.metrics import PAIRED_METRICS, PAIRED_RULE, paired_difference
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


def compare_pairs(value: Any) -> list[str]:
    """``loso.compare`` as a list of "A-B" strings (None/empty -> []; one string -> [it])."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    pairs = [str(v).strip() for v in value]
    bad = [p for p in pairs if "-" not in p.strip("-")]
    if bad:
        raise ValueError(f"loso.compare: {bad} are not 'A-B' pairs of model folders")
    return pairs


def split_pair(pair: str, models: list[str]) -> tuple[str, str]:
    """"A-B" -> (A, B); with hyphens in model names the split that names two known models."""
    cuts = [i for i, ch in enumerate(pair) if ch == "-" and 0 < i < len(pair) - 1]
    splits = [(pair[:i], pair[i + 1:]) for i in cuts]
    known = [s for s in splits if s[0] in models and s[1] in models]
    return known[0] if len(known) == 1 else splits[0]


def compare_models(
    sweep_dir: Path, pairs: list[str], models: list[str], *, n_boot: int, seed: int
) -> dict[str, Any]:
    """Paired patient-bootstrap differences (``paired_difference``) of each "A-B" pair whose
    models both have a report in the sweep (``<sweep>/<model>/predictions.csv``); the others
    are skipped with a log line and their reason."""
    done, skipped = [], []
    for pair in pairs:
        a, b = split_pair(pair, models)
        absent = [m for m in (a, b) if m not in models]
        reason = None
        if a == b:
            reason = "a model compared with itself"
        elif absent:
            reason = f"not in the sweep (or no report): {', '.join(absent)}"
        else:
            try:
                result = paired_difference(
                    read_predictions(sweep_dir / a / "predictions.csv"),
                    read_predictions(sweep_dir / b / "predictions.csv"),
                    n_boot=n_boot, seed=seed)
                done.append({"pair": pair, "a": a, "b": b, **result})
            except (OSError, ValueError) as exc:
                reason = str(exc)
        if reason is not None:
            log.warning("comparison %s skipped: %s", pair, reason)
            skipped.append({"pair": pair, "reason": reason})
    return {"level": "video", "metrics": list(PAIRED_METRICS), "n_boot": n_boot, "seed": seed,
            "rule": PAIRED_RULE, "comparisons": done, "skipped": skipped}
