"""The report: write_report, the CLI end to end, bad input, sweep reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seizure_lightning.evaluation.aggregate import (
    PredictionsError,
    predictions_frame,
    windows_frame,
    write_csv,
)
from seizure_lightning.report import main, write_report, write_sweep_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table3_frame() -> pd.DataFrame:
    """The paper's Table 3 (181, 54 / 15, 33) spread over made-up patients, with a fold column."""
    rows = []
    cells = [("ES", "ES", 181), ("ES", "PNES", 54), ("PNES", "ES", 15), ("PNES", "PNES", 33)]
    for label, pred, count in cells:
        first, n_subjects = (1, 52) if label == "ES" else (53, 29)
        for i in range(count):
            p = 0.25 + 0.5 * (pred == "PNES") + 0.2 * ((i % 5) / 5 - 0.4)
            subject = f"S{first + i % n_subjects}"
            rows.append(
                {
                    "video_id": f"v{len(rows):03d}",
                    "subject_id": subject,
                    "label": label,
                    "pred": pred,
                    "p_ES": 1 - p,
                    "p_PNES": p,
                    "fold": subject,
                }
            )
    return pd.DataFrame(rows)


def _strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _windows(frame: pd.DataFrame, n_videos: int = 30) -> pd.DataFrame:
    parts = []
    for row in frame.head(n_videos).itertuples():
        p = np.clip(row.p_PNES + np.array([-0.1, 0.0, 0.1]), 0, 1)
        parts.append(
            windows_frame(
                [row.video_id] * 3,
                [row.subject_id] * 3,
                [row.label] * 3,
                np.stack([1 - p, p], axis=1),
                start_frame=[0, 128, 256],
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_write_report_table3(tmp_path: Path) -> None:
    metrics = write_report(table3_frame(), tmp_path, n_boot=100, seed=1, extra={"model": "paper"})
    saved = _strict_json(tmp_path / "metrics.json")
    assert saved == json.loads(json.dumps(metrics))
    video = saved["video"]
    assert {
        k: round(video[k], 3) for k in ("accuracy", "f1_es", "f1_pnes", "balanced_accuracy", "mcc")
    } == {
        "accuracy": 0.756,
        "f1_es": 0.840,
        "f1_pnes": 0.489,
        "balanced_accuracy": 0.729,
        "mcc": 0.372,
    }
    assert round(saved["majority_baseline"]["video"]["accuracy"], 3) == 0.830
    assert saved["majority_baseline"]["video"]["precision_pnes"] is None  # NaN -> null
    assert saved["paper_f1"] == "f1_es" and saved["extra"] == {"model": "paper"}
    text = (tmp_path / "report.md").read_text()
    assert "| F1, ES positive (the paper's F1) | 0.840 [" in text
    assert "0.82 cannot be reproduced" in text and "| Accuracy | 0.756 [" in text
    assert "| ES | 181 | 54 | 235 |" in text and "| PNES | 15 | 33 | 48 |" in text
    for png in ("confusion_matrix.png", "roc_pr.png", "subject_accuracy.png"):
        assert f"]({png})" in text
        assert (tmp_path / png).read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "timelines.png").exists()
    assert len(pd.read_csv(tmp_path / "subjects.csv")) == 81


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = table3_frame()
    write_csv(frame, tmp_path / "predictions.csv")
    write_csv(_windows(frame), tmp_path / "windows.csv")
    out = tmp_path / "report"
    args = [
        str(tmp_path / "predictions.csv"),
        "--out",
        str(out),
        "--windows",
        str(tmp_path / "windows.csv"),
        "--n-boot",
        "50",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "f1_es              0.840" in printed and "majority accuracy           0.830" in printed
    for name in (
        "metrics.json",
        "report.md",
        "confusion_matrix.png",
        "roc_pr.png",
        "subject_accuracy.png",
        "timelines.png",
    ):
        assert (out / name).is_file(), name
    saved = _strict_json(out / "metrics.json")
    assert saved["bootstrap"]["n_boot"] == 50 and saved["timelines"]["videos_shown"] == 24
    first = saved["video"]["ci"]
    assert main(args[:3] + args[5:]) == 0  # same seed, same CIs (no timelines this time)
    assert _strict_json(out / "metrics.json")["video"]["ci"] == first
    assert main([*args[:3], "--n-boot", "50", "--seed", "4"]) == 0
    assert _strict_json(out / "metrics.json")["video"]["ci"] != first


@pytest.mark.slow  # a fresh interpreter importing torch: ~7-12 s on a shared machine
def test_module_entry_point(tmp_path: Path) -> None:
    write_csv(table3_frame().head(40), tmp_path / "p.csv")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "seizure_lightning.report",
            str(tmp_path / "p.csv"),
            "--out",
            str(tmp_path / "r"),
            "--n-boot",
            "10",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "report.md").is_file()


def test_cli_bad_input_names_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = table3_frame().head(5)
    frame.loc[3, "label"] = "NES"
    frame.loc[4, "video_id"] = "v000"
    write_csv(frame, tmp_path / "bad.csv")
    assert main([str(tmp_path / "bad.csv"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "row 5 (video 'v003'): unknown label 'NES'" in err
    assert "rows 2, 6: duplicate video_id 'v000'" in err
    assert not (tmp_path / "r" / "metrics.json").exists()
    with pytest.raises(PredictionsError, match="missing column"):
        write_report(frame.drop(columns="pred"), tmp_path / "r")


def test_single_class_report_does_not_crash(tmp_path: Path) -> None:
    frame = table3_frame()
    metrics = write_report(frame[frame["label"] == "ES"], tmp_path, n_boot=20)
    assert metrics["video"]["auroc"] is None and metrics["video"]["notes"]
    assert "roc_pr.png" not in metrics["files"]
    assert "no true PNES" in (tmp_path / "report.md").read_text()


def test_sweep_report_lists_failed_and_missing(tmp_path: Path) -> None:
    frame = table3_frame()
    for i, subject in enumerate(["S1", "S53", "S2"]):
        fold = tmp_path / str(i)
        fold.mkdir()
        rows = frame[frame["subject_id"] == subject]
        ok = subject != "S2"
        (fold / "status.json").write_text(
            json.dumps(
                {"status": "ok" if ok else "failed", "fold": subject, "error": "" if ok else "boom"}
            )
        )
        if ok:
            write_csv(
                predictions_frame(
                    rows["video_id"],
                    rows["subject_id"],
                    rows["label"],
                    rows[["p_ES", "p_PNES"]].to_numpy(),
                ),
                fold / "predictions.csv",
            )
    metrics = write_sweep_report(tmp_path, expected_folds=["S1", "S2", "S53", "S54"], n_boot=20)
    assert metrics["extra"]["folds_failed"] == ["S2"] and metrics["extra"]["folds_missing"] == [
        "S54"
    ]
    assert metrics["counts"]["n_folds"] == 2
    assert set(pd.read_csv(tmp_path / "predictions.csv")["fold"]) == {"S1", "S53"}
    assert (tmp_path / "folds.csv").is_file()
    text = (tmp_path / "report.md").read_text()
    assert "folds failed: S2" in text and "folds missing: S54" in text


def test_timelines_draw_each_folds_threshold(tmp_path) -> None:
    from unittest import mock

    from seizure_lightning.report import plots

    windows = pd.DataFrame({
        "video_id": ["a", "a", "b"], "subject_id": ["P1", "P1", "P2"], "label": ["ES", "ES", "PNES"],
        "window": [0, 1, 0], "start_s": [0.0, 5.0, 0.0], "end_s": [10.0, 15.0, 10.0],
        "p_ES": [0.9, 0.8, 0.96], "p_PNES": [0.1, 0.2, 0.04], "fold": ["P1", "P1", "P2"]})
    preds = pd.DataFrame({"video_id": ["a", "b"], "pred": ["ES", "PNES"]})
    lines = []
    real = plots.Figure.subplots

    def spy(self, *args, **kw):
        axes = real(self, *args, **kw)
        for ax in np.atleast_1d(axes).ravel():
            ax.axhline = mock.Mock(side_effect=lambda y, **k: lines.append(y))
        return axes

    with mock.patch.object(plots.Figure, "subplots", spy):
        plots.plot_timelines(windows, preds, tmp_path / "t.png", thresholds={"P2": 0.03})
    assert sorted(lines) == [0.03, 0.5]  # fold P2's threshold; P1 has none recorded: argmax
    assert (tmp_path / "t.png").is_file()
