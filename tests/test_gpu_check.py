"""experiments/benchmarks/gpu_check.sh composes: its dry run (CPU, tiny sizes) runs every
benchmark it calls and prints every figure of the GPU check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "benchmarks" / "gpu_check.sh"


def test_gpu_check_dry_run(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={"PY": sys.executable, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
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


def test_gpu_check_refuses_unknown_arguments() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown argument --bogus" in done.stderr
