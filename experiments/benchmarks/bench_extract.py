"""Descriptor extraction throughput: ResNet-152 @ 112x112 on this CPU, fp32 vs bf16, against the
FLOP-limited rate (5.86 GFLOP/frame over the matmul GFLOP/s measured in the same run). Random
weights. Prints JSON.

    .venv/bin/python experiments/benchmarks/bench_extract.py [--frames 128] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from seizure_lightning.models.frame_encoder import (
    FrameEncoder,
    FrameEncoderConfig,
    cpu_supports_bf16,
)

GFLOP_PER_FRAME = 5.86  # ResNet-152 at 112x112 (2 FLOP per multiply-add)


def matmul_gflops(dtype: torch.dtype, n: int = 2048, reps: int = 8) -> float:
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def frames_per_s(precision: str, frames: int, batch: int, channels_last: bool) -> float:
    enc = FrameEncoder(
        FrameEncoderConfig(
            arch="resnet152",
            weights=None,
            batch_size=batch,
            precision=precision,
            channels_last=channels_last,
            device="cpu",
        )
    )
    x = torch.randn(frames, 3, 112, 112)
    enc.encode(x[:batch])  # warm-up (oneDNN primitive creation)
    t0 = time.perf_counter()
    enc.encode(x)
    return frames / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gf32 = matmul_gflops(torch.float32)
    gf16 = matmul_gflops(torch.bfloat16)
    result = {
        "cpu_threads": torch.get_num_threads(),
        "cpu_bf16": cpu_supports_bf16(),
        "batch_size": args.batch_size,
        "frames": args.frames,
        "gflop_per_frame": GFLOP_PER_FRAME,
        "matmul_gflops": {"fp32": round(gf32, 1), "bf16": round(gf16, 1)},
        "flop_limited_frames_per_s": {
            "fp32": round(gf32 / GFLOP_PER_FRAME, 1),
            "bf16": round(gf16 / GFLOP_PER_FRAME, 1),
        },
        "frames_per_s": {},
    }
    runs = [("fp32", True), ("fp32", False)]
    if cpu_supports_bf16():
        runs += [("bf16", True), ("bf16", False)]
    for precision, cl in runs:
        fps = frames_per_s(precision, args.frames, args.batch_size, cl)
        key = f"{precision}{'_channels_last' if cl else ''}"
        result["frames_per_s"][key] = round(fps, 1)
        result.setdefault("achieved_gflops", {})[key] = round(fps * GFLOP_PER_FRAME, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
