"""experiments/benchmarks/gpu_check.py composes: its dry run (CPU, tiny sizes) runs every
benchmark it calls and prints every figure of the GPU check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "benchmarks" / "gpu_check.py"


def test_gpu_check_dry_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for figure in ("extraction, ResNet-152", "model=paper pre-training step", "bf16 peak",
                   "loader processes", "projected paper pipeline", "DRY RUN"):
        assert figure in done.stdout, figure
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["dry_run"] is True and result["pretrain_step"]["clips_per_s"] > 0
    hours = result["projection_hours"]
    assert abs(hours["total"] - sum(v for k, v in hours.items() if k != "total")) < 0.05
    assert result["loader"]["workers_needed"] >= 1
    assert all((tmp_path / f"{name}.log").is_file() for name in ("extract", "loader"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without one")
def test_gpu_check_needs_a_gpu_without_dry_run(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1 and "no CUDA device" in done.stderr
