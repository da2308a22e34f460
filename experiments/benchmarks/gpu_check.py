"""The GPU check (issue 18): on one GPU, in under 8 minutes, prints
  - descriptor extraction frames/s, ResNet-152 @ 112x112, bf16 (FrameEncoder, production path)
  - the model=paper pre-training step: clips/s in bf16 and its share of the GPU's bf16 peak
  - loader processes needed to feed that step from the fp16 descriptor cache
  - the projected wall time of the paper's whole pipeline at the measured rates
and writes DIR/{extract,pretrain_step,loader}.json (logs beside them) and DIR/gpu_check.json.

    .venv/bin/python experiments/benchmarks/gpu_check.py [--dry-run] [--out DIR]

``--dry-run``: the same benchmarks on the CPU at tiny sizes (checks that everything composes;
the figures mean nothing). Projection (docs/performance.md, "The scale story"): 13,000
contextual clips of 250 frames with ``--crops`` cached crops each plus 283 seizure videos of
~40 s at one crop, extracted once; pre-training 13,000 clips x 60 epochs at the measured cached
clips/s; LOSO 81 folds x ~1,090 training windows x 50 epochs at the same step rate (a
fine-tuning step costs what a pre-training step costs, within the regression head), plus 1/3
for evaluation.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from common import machine_info
from run_all import HERE, Bench, run_bench

from seizure_lightning.utils.io import atomic_write_json

CONTEXT_CLIPS, CLIP_FRAMES, PRE_EPOCHS = 13_000, 250, 60
SEIZURE_FRAMES = 283 * 40 * 25
LOSO_FOLDS, FOLD_WINDOWS, FT_EPOCHS = 81, 1_090, 50
TARGET_PEAK_FRACTION = 0.40
TARGET_WALL_S = 8 * 60


# the GPU's sizes, then the dry run's (CPU, tiny)
BENCHES = [
    Bench("extract", "bench_extract.py",
          ["--device", "cuda", "--frames", "1024", "--batch-size", "256", "--repeats", "3",
           "--configs", "bf16_channels_last"],
          ["--device", "cpu", "--frames", "4", "--batch-size", "4", "--repeats", "1",
           "--configs", "fp32_channels_last"], 600),
    Bench("pretrain_step", "bench_pretrain_step.py",
          ["--device", "cuda", "--bf16", "--batch", "32", "--iters", "10", "--warmup", "3"],
          ["--device", "cpu", "--batch", "1", "--iters", "1", "--warmup", "0",
           "--backbone-frames", "8", "--seq-len", "64"], 600),
    Bench("loader", "bench_loader.py", ["--epochs", "2", "--loader-batches", "8",
                                        "--loader-batch", "16"],
          ["--epochs", "1", "--loader-batches", "2", "--loader-batch", "4"], 600),
]


def summarize(extract: dict, step: dict, loader: dict, crops: int) -> dict[str, Any]:
    """Every figure of the check, and the projection, from the benchmarks' JSON."""
    key = extract.get("production_key")
    if key not in extract["frames_per_s"]:  # the run measured another precision (dry run)
        key = next(iter(extract["frames_per_s"]))
    fps = float(extract["frames_per_s"][key])
    clips_s = float(step["cached"]["clips_per_s"])
    gpu = step.get("gpu") or {}
    loader_s_per_clip = float(loader["paper_dim_2048"]["s_per_clip"])
    workers = max(1, math.ceil(clips_s * loader_s_per_clip))
    extract_s = (CONTEXT_CLIPS * CLIP_FRAMES * crops + SEIZURE_FRAMES) / fps
    pretrain_s = CONTEXT_CLIPS * PRE_EPOCHS / clips_s
    loso_s = LOSO_FOLDS * FOLD_WINDOWS * FT_EPOCHS * (4 / 3) / clips_s
    return {
        "extraction": {"config": key, "frames_per_s": round(fps, 1)},
        "pretrain_step": {
            "precision": step.get("precision"),
            "batch": step["model"]["batch"],
            "clips_per_s": round(clips_s, 2),
            "bf16_peak_tflops": gpu.get("bf16_peak_tflops"),
            "peak_fraction": gpu.get("peak_fraction_counted"),
            "target_peak_fraction": TARGET_PEAK_FRACTION,
            "max_memory_allocated_gib": gpu.get("max_memory_allocated_gib"),
        },
        "loader": {"s_per_clip_per_worker": round(loader_s_per_clip, 5),
                   "workers_needed": workers},
        "projection_hours": {
            "extraction": round(extract_s / 3600, 2),
            "pretraining": round(pretrain_s / 3600, 2),
            "loso_81_folds_one_gpu": round(loso_s / 3600, 2),
            "total": round((extract_s + pretrain_s + loso_s) / 3600, 2),
        },
        "projection_assumes": {
            "contextual_frames": CONTEXT_CLIPS * CLIP_FRAMES, "crops": crops,
            "seizure_frames": SEIZURE_FRAMES, "pretrain_clip_steps": CONTEXT_CLIPS * PRE_EPOCHS,
            "loso_window_steps": LOSO_FOLDS * FOLD_WINDOWS * FT_EPOCHS,
        },
    }


def table(s: dict[str, Any], wall_s: float | None, dry: bool) -> str:
    st, pr = s["pretrain_step"], s["projection_hours"]
    frac = st["peak_fraction"]
    rows = [
        ("extraction, ResNet-152 @ 112x112", f"{s['extraction']['frames_per_s']} frames/s "
         f"({s['extraction']['config']})", "-"),
        ("model=paper pre-training step", f"{st['clips_per_s']} clips/s ({st['precision']}, "
         f"batch {st['batch']})", "-"),
        ("share of the bf16 peak", "n/a" if frac is None else f"{frac:.0%} of "
         f"{st['bf16_peak_tflops']} TFLOP/s", f">= {TARGET_PEAK_FRACTION:.0%}"),
        ("loader processes to keep up", f"{s['loader']['workers_needed']} "
         f"({s['loader']['s_per_clip_per_worker'] * 1e3:.1f} ms/clip each)", "data.num_workers"),
        ("projected paper pipeline", f"{pr['total']} h (extraction {pr['extraction']}, "
         f"pre-training {pr['pretraining']}, LOSO {pr['loso_81_folds_one_gpu']})", "-"),
    ]
    if wall_s is not None:
        rows.append(("this check's wall time", f"{wall_s:.0f} s", f"< {TARGET_WALL_S} s"))
    head = "DRY RUN on the CPU at tiny sizes: the figures mean nothing\n\n" if dry else ""
    lines = ["| figure | measured | target |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return head + "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=HERE / "results" / "gpu_check")
    p.add_argument("--crops", type=int, default=4, help="cached crops per contextual frame")
    p.add_argument("--dry-run", action="store_true", help="the CPU at tiny sizes")
    args = p.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device visible to torch (use --dry-run on a CPU)")
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true")
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = {b.name: run_bench(b, args.dry_run, args.out) for b in BENCHES}
    failed = {k: r["error"] for k, r in results.items() if "error" in r}
    if failed:
        raise SystemExit(f"gpu_check: {failed} (logs in {args.out})")
    wall_s = round(time.perf_counter() - t0)
    s = summarize(results["extract"], results["pretrain_step"], results["loader"], args.crops)
    s.update(dry_run=args.dry_run, wall_s=wall_s, machine=machine_info())
    print(table(s, wall_s, args.dry_run))
    atomic_write_json(args.out / "gpu_check.json", s)


if __name__ == "__main__":
    main()
