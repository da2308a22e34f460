"""Descriptor extraction throughput: ResNet-152 @ 112x112 on this machine's CPU (or GPU with
``--device cuda``), production settings (``FrameEncoder``: BN folded, channels-last, bf16 autocast
where supported, inference mode) against the FLOP-limited rate (5.86 GFLOP/frame over the
matmul GFLOP/s measured in the same run). Random weights. Prints JSON.

    .venv/bin/python experiments/benchmarks/bench_extract.py [--frames 128] [--batch-size 32]
        [--configs bf16_channels_last,fp32_channels_last] [--out result.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from common import emit, load_average, sync

from seizure_lightning.features.frame_encoder import (
    FrameEncoder,
    FrameEncoderConfig,
    cpu_supports_bf16,
)

GFLOP_PER_FRAME = 5.86  # ResNet-152 at 112x112 (2 FLOP per multiply-add)
TARGET_FPS = 55.0  # issue 9, this 2-core CPU


def matmul_gflops(dtype: torch.dtype, device: str, n: int = 2048, reps: int = 6) -> float:
    """Best-of-3 square matmul rate: the machine's practical dense peak for ``dtype``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(3):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 * reps / best / 1e9


def frames_per_s(
    precision: str, frames: int, batch: int, channels_last: bool, device: str, repeats: int,
    compile: bool = False,
) -> dict:
    """Best/median frames/s; before each timed repeat the matmul rate of the same dtype is
    measured again, so each rate has a FLOP limit taken under the same load."""
    enc = FrameEncoder(
        FrameEncoderConfig(
            arch="resnet152",
            weights=None,
            batch_size=batch,
            precision=precision,
            channels_last=channels_last,
            device=device,
            compile=compile,
        )
    )
    x = torch.randn(frames, 3, 112, 112)
    for _ in range(3):  # warm-up: oneDNN/cuDNN primitive creation takes a few calls
        enc.encode(x[:batch])
    load = load_average()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    rates, limits = [], []
    for _ in range(repeats):
        limits.append(matmul_gflops(dtype, device, reps=3) / GFLOP_PER_FRAME)
        sync(device)
        t0 = time.perf_counter()
        enc.encode(x)
        sync(device)
        rates.append(frames / (time.perf_counter() - t0))
    best = max(range(repeats), key=rates.__getitem__)
    return {"best": rates[best], "median": statistics.median(rates), "load_average_1m": load,
            "flop_limit_at_best": limits[best], "flop_limit_max": max(limits),
            "rates": rates, "flop_limits": limits}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--configs", default="auto_channels_last,auto_channels_last_compiled,"
                    "fp32_channels_last",
                    help="comma list of PRECISION[_channels_last][_compiled]; auto = bf16 where "
                    "supported; _compiled = backbone.compile=true (torch.compile, freezing)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = cpu_supports_bf16() if args.device == "cpu" else torch.cuda.is_bf16_supported()
    load_before = load_average()
    gf32 = matmul_gflops(torch.float32, args.device)
    gf16 = matmul_gflops(torch.bfloat16, args.device) if bf16 else None
    production = "bf16" if bf16 else "fp32"
    result = {
        "benchmark": "extract",
        "device": args.device,
        "cpu_threads": torch.get_num_threads(),
        "bf16_supported": bf16,
        "batch_size": args.batch_size,
        "frames": args.frames,
        "gflop_per_frame": GFLOP_PER_FRAME,
        "target_frames_per_s": TARGET_FPS,
        "matmul_gflops": {"fp32": round(gf32, 1), "bf16": gf16 and round(gf16, 1)},
        "flop_limited_frames_per_s": {
            "fp32": round(gf32 / GFLOP_PER_FRAME, 1),
            "bf16": gf16 and round(gf16 / GFLOP_PER_FRAME, 1),
        },
        "production_precision": production,
        "frames_per_s": {},
        "runs": {},
    }
    for name in args.configs.split(","):
        precision, _, layout = name.partition("_")
        precision = production if precision == "auto" else precision
        if precision == "bf16" and not bf16:
            continue
        cl, compiled = "channels_last" in layout, layout.endswith("compiled")
        run = frames_per_s(precision, args.frames, args.batch_size, cl, args.device, args.repeats,
                           compile=compiled)
        key = f"{precision}{'_channels_last' if cl else ''}{'_compiled' if compiled else ''}"
        result["runs"][key] = {**run, "achieved_gflops": round(run["best"] * GFLOP_PER_FRAME, 1)}
        result["frames_per_s"][key] = round(run["best"], 1)
    result["production_key"] = f"{production}_channels_last"
    result["compiled_key"] = f"{production}_channels_last_compiled"
    result["load_average_1m_before_after"] = [load_before, load_average()]
    emit(result, args.out)


if __name__ == "__main__":
    main()
