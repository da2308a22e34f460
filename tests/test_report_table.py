"""``python -m seizure_lightning.report.table`` prints the README's demo figures from a sweep's
files."""

from __future__ import annotations

import json
from pathlib import Path

from seizure_lightning.evaluation.fold_record import FoldRecord, Timings, record_path
from seizure_lightning.report.table import main


def _video(ba: float, auroc: float) -> dict:
    return {"accuracy": 0.8, "balanced_accuracy": ba, "f1_es": 0.9, "f1_pnes": 0.6, "mcc": 0.5,
            "auroc": auroc, "ci": {"balanced_accuracy": {"low": ba - 0.1, "high": ba + 0.1},
                                   "auroc": {"low": None, "high": None}}}


def test_demo_table_from_files(tmp_path: Path, capsys) -> None:
    sweep = tmp_path / "logs" / "loso" / "demo"
    for name, ba in (("tiny", 0.7), ("motion_spectrum", 0.75)):
        (sweep / name / "fold=P01").mkdir(parents=True)
        (sweep / name / "metrics.json").write_text(json.dumps(
            {"video": _video(ba, 0.8), "majority_baseline": {"video": _video(0.5, 0.5)}}))
        FoldRecord(fold="P01", model=name, timings_s=Timings(fit=10.0, setup=2.0, test=1.0)
                   ).to_json(record_path(sweep / name / "fold=P01"))
    (sweep / "comparisons.json").write_text(json.dumps({"comparisons": [
        {"a": "tiny", "b": "motion_spectrum",
         "balanced_accuracy": {"difference": -0.05, "ci": [-0.2, 0.1]}}]}))
    pre = tmp_path / "logs" / "demo" / "pretrain"
    pre.mkdir(parents=True)
    (pre / "metrics.json").write_text(json.dumps(
        {"val/pretext/model_corrupted": 0.5, "val/pretext/copy_corrupted": 0.9,
         "val/pretext/interpolate_corrupted": 0.8, "val/pretext/mean_corrupted": 0.6,
         "val/pretext/ratio": 0.5 / 0.6}))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| `"))
    assert "motion_spectrum" in lines[first] and "0.750 [0.650, 0.850]" in lines[first]
    assert "| majority class | 0.800 | 0.500 |" in out
    tiny = next(line for line in lines if line.startswith("| `tiny`"))
    assert tiny.endswith("| 0.500 | 0.800 [n/a] |")  # MCC, then an AUROC without its CI
    assert "`tiny` − `motion_spectrum` balanced accuracy: -0.050 [-0.200, +0.100]" in out
    assert "against 0.600 for the best trivial predictor" in out and "0.833" in out
    assert "per fold fit 10.0 s, set-up and test 3.0 s" in out
    assert main([str(tmp_path), "--sweep", "absent"]) == 2
    assert "sweep folder not found" in capsys.readouterr().err
