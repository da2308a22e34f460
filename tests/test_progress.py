"""Progress: tqdm bars on a terminal, plain periodic lines (total, rate, ETA, no \\r) in files,
parallel jobs and CI; SEIZURE_LIGHTNING_PROGRESS switches."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from seizure_lightning.utils.progress import PlainProgress, fmt_seconds, progress, progress_mode
from tests.conftest import TINY_OVERRIDES, run_cli


def test_mode_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for mode in ("bar", "plain", "off"):
        monkeypatch.setenv("SEIZURE_LIGHTNING_PROGRESS", mode)
        assert progress_mode() == mode
    monkeypatch.setenv("SEIZURE_LIGHTNING_PROGRESS", "auto")
    assert progress_mode() == "plain"  # pytest captures stderr: not a terminal
    monkeypatch.setenv("SEIZURE_LIGHTNING_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="SEIZURE_LIGHTNING_PROGRESS"):
        progress_mode()


def test_plain_lines_have_total_rate_and_eta(caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEIZURE_LIGHTNING_PROGRESS", "plain")
    with caplog.at_level(logging.INFO):
        bar = progress(total=1000, desc="descriptors", unit="frame")
        assert isinstance(bar, PlainProgress)
        bar.every = 0.0  # a line per update
        with bar:
            bar.update(250)
            bar.update(250)
    lines = [r.getMessage() for r in caplog.records]
    assert any("descriptors: 250/1,000 frame (25%)" in m and "ETA" in m for m in lines)
    assert lines[-1].endswith("(done)") and not any("\r" in m for m in lines)
    assert fmt_seconds(3725) == "1:02:05" and fmt_seconds(65) == "1:05"
    assert fmt_seconds(float("nan")) == "?"


def test_off_is_silent(caplog: pytest.LogCaptureFixture, monkeypatch) -> None:
    monkeypatch.setenv("SEIZURE_LIGHTNING_PROGRESS", "off")
    with caplog.at_level(logging.INFO), progress(total=3, desc="x") as bar:
        bar.update(3)
    assert not caplog.records


def test_training_without_a_terminal_logs_plain_lines(tmp_path: Path) -> None:
    """A pre-training run whose output goes to a file (as under SLURM): no carriage returns,
    periodic lines that name epoch, batch and ETA, and the end of training."""
    args = ["+experiment=pretrain", *TINY_OVERRIDES, "trainer.enable_progress_bar=true",
            f"paths.root_dir={tmp_path}", "logger=none"]
    done = run_cli(args, cwd=tmp_path, env={"SEIZURE_LIGHTNING_PROGRESS_EVERY": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "\r" not in out
    assert "epoch 1/1, batch 1/" in out and "ETA" in out
    assert "trained 1 epoch(s)" in out
    assert "descriptors (rank 0" in out and "(done)" in out
    # one line per event: no log line (timestamps stripped) repeated more than a few times
    import collections
    import re

    lines = [re.sub(r"^\[[^\]]*\]", "", line).strip() for line in out.splitlines()]
    repeats = collections.Counter(line for line in lines if line and "epoch " not in line)
    assert max(repeats.values()) <= 3, repeats.most_common(3)
