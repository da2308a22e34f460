"""The record of one finished LOSO fold (``<fold>/summary.json``): written once by the fold,
read by the sweep's report, the diagnostics, the demo table and ``predict``'s checkpoint stamp.

Schema 1 is the only one written. A ``summary.json`` of an older run (no ``schema`` key, the same
fields) is read as schema 1; a record of a newer schema, or one that is not a fold record, is
refused with the file named (:class:`FoldRecordError`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seizure_lightning.evaluation.decision import ARGMAX_THRESHOLD, DECISIONS
from seizure_lightning.utils.io import atomic_write_json
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.naming import natural_key

log = get_logger(__name__)

RECORD_FILE = "summary.json"
SCHEMA = 1
#: what older runs wrote as ``tested_checkpoint`` when the weights at the end of training were
#: tested (schema 1 writes null)
_LEGACY_LAST = "last (weights at the end of training)"


class FoldRecordError(ValueError):
    """A fold record that is missing, unreadable, of an unknown schema or malformed."""


@dataclass(frozen=True)
class Decision:
    """A fold's decision rule: ``argmax`` (``threshold`` None, the paper) or ``val_threshold``
    (PNES iff p_PNES > ``threshold``, chosen on the inner validation subjects)."""

    rule: str = "argmax"
    threshold: float | None = None

    @property
    def line(self) -> float:
        """The p_PNES the rule decides at (0.5 for argmax)."""
        return ARGMAX_THRESHOLD if self.threshold is None else float(self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "threshold": self.threshold}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Decision:
        data = data or {}
        threshold = data.get("threshold")
        return cls(str(data.get("rule", "argmax")),
                   None if threshold is None else float(threshold))


@dataclass(frozen=True)
class Candidate:
    """One candidate of the fold's nested selection (``loso.select``)."""

    values: dict[str, Any]
    score: float
    val_loss: float | None
    dir: str


@dataclass(frozen=True)
class Selection:
    """The fold's nested selection: every candidate's inner-validation score, and the choice."""

    metric: str
    candidates: list[Candidate]
    chosen: dict[str, Any]

    @property
    def chosen_candidate(self) -> Candidate:
        return next(c for c in self.candidates if c.values == self.chosen)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        return cls(str(data["metric"]), [Candidate(**c) for c in data["candidates"]],
                   dict(data["chosen"]))


@dataclass(frozen=True)
class Timings:
    """Wall seconds of the fold: ``trainer.fit`` of every candidate, the set-up around it, and
    testing with writing the fold's files."""

    fit: float
    setup: float
    test: float


@dataclass(frozen=True)
class FoldRecord:
    """What one fold did and what it found (see the module docstring for the file)."""

    fold: str | None
    model: str | None
    pretrain_overlap: bool | str | None = None
    class_weights: list[float] = field(default_factory=list)
    split: dict[str, list[str]] = field(default_factory=dict)
    best_ckpt: str | None = None
    selection: Selection | None = None
    #: the tested weights' file; None: the weights at the end of training
    tested_checkpoint: str | None = None
    decision: Decision = field(default_factory=Decision)
    n_videos: int = 0
    accuracy: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    timings_s: Timings | None = None

    @property
    def tested_epoch(self) -> int | None:
        """The 1-based epoch of the tested weights (``epoch024-step000125.ckpt`` -> 25), the epoch
        ``loso.checkpoint=best`` chose on the inner validation subjects; None when unknown."""
        found = re.search(r"epoch(\d+)", Path(str(self.tested_checkpoint or "")).name)
        return int(found.group(1)) + 1 if found else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``summary.json`` (the decision as ``decision`` + ``threshold``)."""
        out = {"schema": SCHEMA, **asdict(self)}
        out["decision"], out["threshold"] = self.decision.rule, self.decision.threshold
        return out

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the record atomically to ``path``."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "fold record") -> FoldRecord:
        """The record of a ``summary.json`` object (schema 1, or an older run's unversioned one)."""
        if not isinstance(data, dict):
            raise FoldRecordError(f"{source}: not a JSON object")
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise FoldRecordError(f"{source}: fold record schema {schema!r} is not known to this "
                                  f"version (it reads schema {SCHEMA}); re-run the fold")
        try:
            return cls(**_fields(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise FoldRecordError(f"{source}: not a fold record ({type(exc).__name__}: {exc})"
                                  ) from exc

    @classmethod
    def read(cls, path: str | os.PathLike) -> FoldRecord:
        """Read a fold's ``summary.json``; a clear error naming the file when it is missing,
        corrupt or of an unknown schema."""
        path = Path(path)
        if not path.is_file():
            raise FoldRecordError(f"fold record not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FoldRecordError(f"{path}: unreadable fold record ({exc})") from exc
        return cls.from_dict(data, str(path))


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """The dataclass fields of a ``summary.json`` object (unknown keys are ignored)."""
    rule = str(data.get("decision") or "argmax")
    if rule not in DECISIONS:
        raise ValueError(f"decision {rule!r} is not one of {DECISIONS}")
    threshold = data.get("threshold")
    # an older run wrote the argmax rule's line (0.5) as its threshold
    threshold = None if rule == "argmax" or threshold is None else float(threshold)
    tested = data.get("tested_checkpoint")
    timings = data.get("timings_s")
    selection = data.get("selection")
    return {
        "fold": None if data["fold"] is None else str(data["fold"]),
        "model": data.get("model"),
        "pretrain_overlap": data.get("pretrain_overlap"),
        "class_weights": [float(w) for w in data.get("class_weights") or []],
        "split": {k: [str(s) for s in v] for k, v in (data.get("split") or {}).items()},
        "best_ckpt": data.get("best_ckpt"),
        "selection": Selection.from_dict(selection) if selection else None,
        "tested_checkpoint": None if tested in (None, _LEGACY_LAST) else str(tested),
        "decision": Decision(rule, threshold),
        "n_videos": int(data.get("n_videos") or 0),
        "accuracy": None if data.get("accuracy") is None else float(data["accuracy"]),
        "metrics": {str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
        "timings_s": Timings(**timings) if timings else None,
    }


def record_path(fold_dir: str | os.PathLike) -> Path:
    """Where a fold folder keeps its record."""
    return Path(fold_dir) / RECORD_FILE


def read_fold_records(model_dir: str | os.PathLike) -> list[FoldRecord]:
    """The records of every ``fold=*`` folder of a model's sweep folder, in natural fold order;
    a folder without a readable record (a failed or running fold) is left out with a warning."""
    records = []
    paths = sorted(Path(model_dir).glob(f"fold=*/{RECORD_FILE}"),
                   key=lambda p: natural_key(p.parent.name))
    for path in paths:
        try:
            records.append(FoldRecord.read(path))
        except FoldRecordError as exc:
            log.warning("%s", exc)
    return records
