"""The fold record (evaluation.fold_record): one typed summary.json per fold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seizure_lightning.evaluation.fold_record import (
    SCHEMA,
    Candidate,
    Decision,
    FoldRecord,
    FoldRecordError,
    Selection,
    Timings,
    read_fold_records,
    record_path,
)


def _record(**changes) -> FoldRecord:
    fields = dict(
        fold="P03", model="tiny", pretrain_overlap="unknown", class_weights=[0.4, 0.6],
        split={"train": ["P01", "P02"], "val": ["P04"], "test": ["P03"]},
        best_ckpt="/r/checkpoints/epoch004-step000020.ckpt",
        selection=Selection("auroc", [Candidate({"model.lr": 0.001}, 0.75, 0.6, "/r/select/00"),
                                      Candidate({"model.lr": 0.003}, 1.0, 0.4, "/r/select/01")],
                            {"model.lr": 0.003}),
        tested_checkpoint="/r/checkpoints/epoch004-step000020.ckpt",
        decision=Decision("val_threshold", 0.37), n_videos=3, accuracy=2 / 3,
        metrics={"test/acc": 0.5}, timings_s=Timings(fit=1.5, setup=0.5, test=0.25))
    return FoldRecord(**{**fields, **changes})


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    record = _record()
    path = record.to_json(record_path(tmp_path))
    assert path == tmp_path / "summary.json"
    assert FoldRecord.read(path) == record
    data = json.loads(path.read_text())
    # the threshold is written once, beside the rule it belongs to
    assert data["schema"] == SCHEMA and (data["decision"], data["threshold"]) == (
        "val_threshold", 0.37)
    assert record.selection.chosen_candidate.dir == "/r/select/01"
    assert record.tested_epoch == 5  # epoch004 is the 5th epoch
    assert _record(tested_checkpoint=None).tested_epoch is None


def test_argmax_has_no_threshold_but_decides_at_one_half(tmp_path: Path) -> None:
    record = _record(decision=Decision(), selection=None, timings_s=None)
    record.to_json(record_path(tmp_path))
    read = FoldRecord.read(record_path(tmp_path))
    assert read.decision == Decision("argmax", None) and read.decision.line == 0.5
    assert json.loads(record_path(tmp_path).read_text())["threshold"] is None
    assert Decision.from_dict(None) == Decision() and Decision("val_threshold", 0.2).line == 0.2


def test_reads_the_summary_json_of_older_runs(tmp_path: Path) -> None:
    """A summary.json written before the record had a schema: the argmax threshold 0.5 it
    wrote is no threshold, and its 'last (...)' checkpoint text is the end-of-training
    weights."""
    old = {"fold": "P01", "model": "lstm", "pretrain_overlap": None, "class_weights": [0.5, 0.5],
           "split": {"train": ["P02"], "val": [], "test": ["P01"]}, "best_ckpt": None,
           "tested_checkpoint": "last (weights at the end of training)", "decision": "argmax",
           "threshold": 0.5, "n_videos": 2, "accuracy": 1.0, "metrics": {"test/acc": 1.0},
           "timings_s": {"fit": 3.0, "setup": 1.0, "test": 0.5}}
    record_path(tmp_path).write_text(json.dumps(old))
    record = FoldRecord.read(record_path(tmp_path))
    assert record.decision == Decision() and record.tested_checkpoint is None
    assert record.timings_s == Timings(3.0, 1.0, 0.5) and record.accuracy == 1.0


@pytest.mark.parametrize(("content", "message"), [
    (None, "fold record not found"),
    ("{not json", "unreadable fold record"),
    ('{"schema": 99, "fold": "P01"}', "schema 99 is not known"),
    ("[1, 2]", "not a JSON object"),
    ('{"model": "tiny"}', "not a fold record"),
    ('{"fold": "P01", "decision": "youden"}', "not a fold record"),
])
def test_bad_records_name_the_file(tmp_path: Path, content: str | None, message: str) -> None:
    path = record_path(tmp_path)
    if content is not None:
        path.write_text(content)
    with pytest.raises(FoldRecordError, match=message) as err:
        FoldRecord.read(path)
    assert str(path) in str(err.value)


def test_a_model_folders_records_in_fold_order(tmp_path: Path, caplog) -> None:
    for fold in ("P10", "P2", "P1"):
        (tmp_path / f"fold={fold}").mkdir()
        _record(fold=fold).to_json(record_path(tmp_path / f"fold={fold}"))
    (tmp_path / "fold=P3").mkdir()
    record_path(tmp_path / "fold=P3").write_text("{broken")
    (tmp_path / "fold=P4").mkdir()  # a fold still running: no record
    with caplog.at_level("WARNING"):
        records = read_fold_records(tmp_path)
    assert [r.fold for r in records] == ["P1", "P2", "P10"]
    assert "fold=P3" in caplog.text
