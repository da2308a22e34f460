"""The demo's reproducibility settings (``backbone.precision=fp32 cpu_isa=avx2``, one thread per
fold) give the same predictions whatever CPU code path torch would take: one LOSO fold of the
demo's recipe, run twice in fresh processes on one descriptor cache, once on torch's default
kernels for this CPU and once on the AVX2-only path (docs/reproducibility.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from seizure_lightning.utils.cpu_isa import ISA_ENV, NUMPY_ENV, numpy_features_above, pin_cpu_isa
from tests.conftest import TINY_OVERRIDES

# what `make demo` sets (Makefile DEMO_REPRO; its folds run with threads=1)
DEMO_REPRO = ("backbone.precision=fp32", "cpu_isa=avx2", "threads=1")
# torch's switch to another CPU code path, and the caps of MKL and oneDNN with it: what a CPU
# without AVX-512 runs
AVX2_ONLY = {**ISA_ENV["avx2"], "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
# the stated tolerance (docs/reproducibility.md): the same bits, |delta p_PNES| = 0
TOLERANCE = 0.0


def run_fold(root: Path, run_dir: Path, isa_env: dict[str, str]) -> pd.DataFrame:
    """One fold (held-out PNES patient P01 of synth=tiny, model tiny_scratch, the demo's 25
    epochs) in a fresh process; p_PNES of every training, validation and held-out video."""
    env = {k: v for k, v in os.environ.items() if k not in AVX2_ONLY}
    # NumPy capped at AVX2 as `make demo` does (read at its import: NUMPY_ENV)
    env.update(WANDB_MODE="offline", HYDRA_FULL_ERROR="1", **NUMPY_ENV["avx2"], **isa_env)
    args = [*TINY_OVERRIDES, "+experiment=loso", "loso=recipe", "model=tiny_scratch",
            "data.test_subject=P01", "trainer.max_epochs=25", *DEMO_REPRO,
            f"paths.root_dir={root}", f"hydra.run.dir={run_dir}"]
    done = subprocess.run([sys.executable, "-m", "seizure_lightning", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = pd.read_csv(run_dir / "fold_scores.csv")
    return scores.set_index(["part", "video_id"]).sort_index()["p_PNES"]


def test_fold_predictions_agree_across_cpu_code_paths(
    tmp_path: Path, shared_root: Path, tiny_dataset: Path
) -> None:
    default = run_fold(shared_root, tmp_path / "default", {})
    avx2 = run_fold(shared_root, tmp_path / "avx2", AVX2_ONLY)
    assert list(default.index) == list(avx2.index)
    assert {"train", "val", "test"} <= set(default.index.get_level_values("part"))
    delta = (default - avx2).abs()
    assert delta.max() <= TOLERANCE, f"p_PNES moved by up to {delta.max():.3g}:\n{delta}"


def test_auto_precision_is_fp32_when_onednn_is_capped_at_avx2() -> None:
    """``precision: auto`` follows oneDNN, not the CPU's flags alone: on the AVX2-only path it
    extracts in fp32, as a CPU without bf16 does."""
    code = ("import torch; from seizure_lightning.features.frame_encoder import "
            "resolve_precision; print(resolve_precision('auto', torch.device('cpu')))")
    env = {**os.environ, **AVX2_ONLY}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "fp32"


def test_unknown_isa_is_refused() -> None:
    with pytest.raises(ValueError, match="cpu_isa='avx512'"):
        pin_cpu_isa("avx512")


def test_pin_after_torch_chose_its_kernels_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.ones(4).sum()  # torch has chosen its CPU kernels
    if torch.backends.cpu.get_cpu_capability() == "AVX2":
        pytest.skip("torch runs AVX2 kernels here already")
    for key in ISA_ENV["avx2"]:  # pin_cpu_isa sets them: setenv first, so they are restored
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    with pytest.raises(RuntimeError, match="already on"):
        pin_cpu_isa("avx2")


def test_numpy_above_avx2_is_refused() -> None:
    """A process whose NumPy chose kernels above AVX2 at import cannot be pinned at AVX2 (the
    generator's videos depend on NumPy's kernels); with NUMPY_ENV exported it can."""
    code = ("from seizure_lightning.utils.cpu_isa import numpy_features_above; "
            "print(numpy_features_above('avx2'))")
    capped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **NUMPY_ENV["avx2"]}, timeout=120)
    assert capped.returncode == 0 and capped.stdout.strip() == "[]", capped.stderr[-2000:]
    if numpy_features_above("avx2"):  # an AVX-512 CPU, NumPy not capped in this process
        with pytest.raises(RuntimeError, match="NPY_DISABLE_CPU_FEATURES"):
            pin_cpu_isa("avx2")


@pytest.mark.slow
def test_numpy_dispatch_changes_the_generated_videos(tmp_path: Path) -> None:
    """Why NumPy is pinned: a small draw of the demo preset, generated with NumPy on its baseline
    kernels (no AVX2), gives other video bytes than on AVX2 (one contextual video of twelve)."""
    code = ("import sys, hashlib; from pathlib import Path; "
            "from seizure_lightning.synthetic import generate; "
            "root = generate(Path(sys.argv[1]), preset='demo', seed=0, subjects_es=1, "
            "subjects_pnes=1, seizures_es=1, seizures_pnes=1, contextual_recordings=10, "
            "contextual_subjects=0); "
            "print(hashlib.sha256(b''.join(p.read_bytes() for p in "
            "sorted(Path(root).rglob('*.mp4')))).hexdigest())")
    digests = []
    for name, disabled in (("default", ""), ("baseline", "X86_V3")):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / name)], env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(done.stdout.split()[-1])
    assert digests[0] != digests[1]
