"""LOSO sweep throughput: the whole sweep (``-m +experiment=loso``, joblib launcher) at 1 and 2
parallel folds on a generated dataset, and what one fold spends outside ``trainer.fit``
(process start, config, data set-up, testing, the report), from each fold's ``summary.json``
``timings_s`` and the sweep's wall time. Also checks that the sweep reads the descriptor cache
as it is: no shard is written or rewritten while the folds run.

    .venv/bin/python experiments/benchmarks/bench_sweep.py [--preset tiny] [--epochs 5]
        [--model tiny_scratch] [--jobs 1,2] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import emit, load_average

ROOT = Path(__file__).resolve().parents[2]


def cli(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "seizure_lightning", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0, done


def cache_state(cache: Path) -> dict[str, int]:
    return {str(p.relative_to(cache)): p.stat().st_mtime_ns for p in cache.rglob("*.npy")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--model", default="tiny_scratch")
    p.add_argument("--jobs", default="1,2", help="comma list of hydra.launcher.n_jobs")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    common = [f"synth={args.preset}", f"paths.root_dir={work}", "logger=none"]
    try:
        prep_s, _ = cli(["+experiment=preprocess", "data=seizures", *common], env)
        before = cache_state(work / "cache")
        load_before = load_average()
        runs = {}
        for jobs in [int(j) for j in args.jobs.split(",")]:
            name = f"bench-jobs{jobs}"
            wall, _ = cli(["-m", "+experiment=loso", *common, f"model={args.model}",
                           f"trainer.max_epochs={args.epochs}", f"loso.name={name}",
                           "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}",
                           "threads=1", "loso.n_boot=200"], env)
            runs[f"jobs={jobs}"] = summarize(work / "logs" / "loso" / name / args.model, wall,
                                             jobs)
        after = cache_state(work / "cache")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "benchmark": "sweep",
        "setup": {"preset": args.preset, "model": args.model, "epochs": args.epochs,
                  "threads_per_fold": 1, "preprocess_s": round(prep_s, 1)},
        "runs": runs,
        "cache_untouched": before == after and bool(before),
        "cache_shards": len(before),
        "load_average_1m_before_after": [load_before, load_average()],
    }
    one = runs.get("jobs=1")
    two = runs.get("jobs=2")
    if one and two:
        result["speedup_2_vs_1"] = round(one["sweep_s"] / two["sweep_s"], 2)
    emit(result, args.out)


def summarize(model_dir: Path, wall: float, jobs: int) -> dict[str, Any]:
    """Per-fold fit / set-up / test seconds and the overhead outside training."""
    folds = sorted(model_dir.glob("fold=*/summary.json"))
    if not folds:
        raise RuntimeError(f"no finished folds under {model_dir}")
    t = [json.loads(f.read_text())["timings_s"] for f in folds]
    n = len(t)
    fit = sum(x["fit"] for x in t) / n
    per_fold_wall = wall * jobs / n  # process-seconds of the sweep per fold
    return {
        "folds": n,
        "sweep_s": round(wall, 1),
        "fold_fit_s": round(fit, 2),
        "fold_setup_s": round(sum(x["setup"] for x in t) / n, 2),
        "fold_test_s": round(sum(x["test"] for x in t) / n, 2),
        "fold_wall_s": round(per_fold_wall, 2),
        "fold_overhead_s": round(per_fold_wall - fit, 2),
        "overhead_fraction": round((per_fold_wall - fit) / per_fold_wall, 3),
        "folds_per_min": round(60 * n / wall, 2),
    }


if __name__ == "__main__":
    main()
