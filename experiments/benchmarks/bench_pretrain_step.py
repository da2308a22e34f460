"""Pre-training step throughput: cached descriptors vs an online ResNet-152 backbone (one run).

Cached path: a full ``DenoisingPretrainModule`` train step (corruption plan + gather, forward,
backward, AdamW) on random ``[B, L, 2048]`` descriptors at ``model=paper``.
Online path: the project's ``FrameEncoder`` (frozen ResNet-152 without its last layer, BN folded,
channels-last, bf16 autocast with ``--bf16``, ``inference_mode``: what the online DataModule runs)
makes the descriptors of ``L`` frames of 112x112 per clip, then the same train step. By default the backbone is
timed on ``--backbone-frames`` frames and its per-frame time is scaled to ``B * L`` frames (the
backbone cost is linear in frames); ``--online-full`` runs the whole online step literally.
FLOPs are counted with ``torch.utils.flop_counter`` on the meta device (no compute).

    .venv/bin/python experiments/benchmarks/bench_pretrain_step.py [--bf16] [--out result.json]
    .venv/bin/python experiments/benchmarks/bench_pretrain_step.py --device cuda --batch 32 --bf16

On a GPU the figure is the cached step's clips/s in bf16 and its share of the GPU's dense bf16
peak (a table by GPU name, or ``--peak-tflops``); no GPU: the CUDA run reports "no GPU here".
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_extract import matmul_gflops
from common import emit, load_average, sync
from torch.utils.flop_counter import FlopCounterMode

from seizure_lightning.features.frame_encoder import (
    FrameEncoder,
    FrameEncoderConfig,
    build_backbone,
)
from seizure_lightning.lightning_modules.masked_pretraining import DenoisingPretrainModule

TARGET_SPEEDUP = 12.0  # issue 9
TARGET_GPU_PEAK_FRACTION = 0.40  # issue 9: paper config clips/s in bf16 >= 40% of bf16 peak
# dense bf16 tensor-core peaks (TFLOP/s, no sparsity); V100 has no bf16: its fp16 peak
GPU_BF16_PEAK_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 NVL": 835.0, "H100 PCIe": 756.0, "H100": 989.0,
    "A100": 312.0, "A10G": 70.0, "A10": 125.0, "L40S": 362.0, "L4": 121.0, "V100": 125.0,
    "RTX 4090": 165.0, "RTX 6000 Ada": 364.0,
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--batch", type=int, default=4, help="clips per step")
    p.add_argument("--seq-len", type=int, default=256, help="frames per clip")
    p.add_argument("--iters", type=int, default=2, help="timed train steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed train steps first")
    p.add_argument(
        "--backbone-frames", type=int, default=96, help="frames timed through ResNet-152"
    )
    p.add_argument("--chunk", type=int, default=32, help="frames per backbone forward")
    p.add_argument("--online-full", action="store_true", help="run the full online step literally")
    p.add_argument("--no-fused", action="store_true", help="foreach AdamW instead of fused")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for both paths")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--no-profile", action="store_true",
                   help="skip the profiled step (top kernels) and the matmul peak")
    p.add_argument("--peak-tflops", type=float, default=None, help="GPU bf16 peak override")
    return p.parse_args()


def gpu_peak_tflops(name: str) -> float | None:
    """Dense bf16 peak of the GPU called ``name`` (longest matching key), None if unknown."""
    hits = [k for k in GPU_BF16_PEAK_TFLOPS if k.lower() in name.lower()]
    return GPU_BF16_PEAK_TFLOPS[max(hits, key=len)] if hits else None


DEVICE = torch.device("cpu")  # set in main() from --device


def autocast(enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(DEVICE.type, dtype=torch.bfloat16)


def make_batch(batch: int, seq_len: int, dim: int) -> dict[str, torch.Tensor]:
    return {
        "features": torch.randn(batch, seq_len, dim, device=DEVICE).abs(),
        "attention_mask": torch.ones(batch, seq_len, dtype=torch.bool),  # plan is made on CPU
        "index": torch.arange(batch),
    }


def train_step(
    module: DenoisingPretrainModule,
    opt: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    bf16: bool,
) -> float:
    """One pre-training step as the module does it (corrupt, regress, AdamW)."""
    inputs, _, _ = module.corrupt(batch, epoch=0, stream=0)
    with autocast(bf16):
        pred = module(inputs, batch["attention_mask"].to(DEVICE))
    loss = (pred.float() - batch["features"]).pow(2).sum(-1).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())  # synchronises the device


def profile_step(module, opt, batch, bf16: bool, top: int = 8) -> list[dict[str, Any]]:
    """One train step under torch.profiler: the ops with the most self time (where it goes)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE.type == "cuda" else [])
    with profile(activities=activities) as prof:
        train_step(module, opt, batch, bf16)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return [{"op": e.key, "calls": e.count, "self_ms": round(e.self_cpu_time_total / 1e3, 1),
             "share": round(e.self_cpu_time_total / total, 3)} for e in rows]


def frame_encoder(chunk: int, bf16: bool) -> FrameEncoder:
    """The production online backbone (random weights: timing only)."""
    return FrameEncoder(FrameEncoderConfig(
        arch="resnet152", weights=None, batch_size=chunk, precision="bf16" if bf16 else "fp32",
        channels_last=True, device=DEVICE.type,
    ))


def describe_frames(encoder: FrameEncoder, frames: int) -> torch.Tensor:
    """Descriptors [frames, 2048] of random 112x112 frames (``encoder.batch_size`` per forward)."""
    return encoder.encode(torch.randn(frames, 3, 112, 112)).to(DEVICE)


def count_flops(fn: Callable[[], Any]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def step_flops(batch: int, seq_len: int) -> tuple[int, int]:
    """(counted FLOPs of one train step, trainable params) at model=paper, on the meta device."""
    with torch.device("meta"):
        module = DenoisingPretrainModule()
        x = torch.randn(batch, seq_len, module.input_representation.config.descriptor_dim)

        def run() -> None:
            ((module(x, None) - x).pow(2).sum(-1).mean()).backward()

        flops = count_flops(run)
        params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return flops, params


def frame_flops() -> int:
    with torch.device("meta"):
        backbone = build_backbone("resnet152", None).eval().requires_grad_(False)
        x = torch.randn(1, 3, 112, 112)
        with torch.inference_mode():
            return count_flops(lambda: backbone(x))


def no_gpu_result(args: argparse.Namespace) -> dict[str, Any]:
    """What a ``--device cuda`` run reports on a machine without a GPU."""
    result = {
        "benchmark": "pretrain_step",
        "device": "cuda",
        "available": False,
        "note": "no GPU here",
        "target_peak_fraction": TARGET_GPU_PEAK_FRACTION,
        "load_average_1m_before_after": [load_average()] * 2,
    }
    emit(result, args.out)
    return result


def main() -> dict[str, Any]:
    global DEVICE
    args = parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        return no_gpu_result(args)
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = load_average()
    B, L = args.batch, args.seq_len
    flops_step, n_params = step_flops(B, L)
    flops_frame = frame_flops()

    module = DenoisingPretrainModule(seed=0)  # model=paper, corruption as in the paper
    module.set_special_descriptors(torch.full((2048,), 0.5), torch.zeros(2048))
    module.to(DEVICE)
    module.train()
    opt = torch.optim.AdamW(
        module.parameters(), lr=1e-4, weight_decay=1e-4, fused=not args.no_fused
    )
    batch = make_batch(B, L, 2048)
    backbone = frame_encoder(args.chunk, args.bf16)
    for _ in range(max(args.warmup, 2)):  # oneDNN/cuDNN primitives: a few calls to warm up
        describe_frames(backbone, args.chunk)
    for _ in range(args.warmup):
        train_step(module, opt, batch, args.bf16)

    # Interleave the two measurements so that load from other processes hits both alike.
    step_times, frame_times = [], []
    frames_per_round = max(1, min(args.backbone_frames, B * L) // max(args.iters, 1))
    for _ in range(args.iters):
        start = time.perf_counter()
        train_step(module, opt, batch, args.bf16)
        step_times.append(time.perf_counter() - start)
        if not args.online_full:
            start = time.perf_counter()
            describe_frames(backbone, frames_per_round)
            sync(DEVICE)
            frame_times.append((time.perf_counter() - start) / frames_per_round)
    step_s = sum(step_times) / len(step_times)

    if args.online_full:
        start = time.perf_counter()
        feats = describe_frames(backbone, B * L).view(B, L, -1)
        train_step(module, opt, {**batch, "features": feats}, args.bf16)
        online_step_s = time.perf_counter() - start
        backbone_s_per_frame = max(online_step_s - step_s, 0.0) / (B * L)
        mode = "full: backbone on B*L frames + train step, timed end to end"
    else:
        backbone_s_per_frame = sum(frame_times) / len(frame_times)
        online_step_s = backbone_s_per_frame * B * L + step_s
        mode = (
            f"backbone timed on {frames_per_round * args.iters} frames (interleaved with the "
            f"cached steps), scaled to {B * L} frames, + the measured train step"
        )

    profile = None if args.no_profile else profile_step(module, opt, batch, args.bf16)
    peak_gflops = None
    if not args.no_profile and DEVICE.type == "cpu":
        peak_gflops = matmul_gflops(torch.bfloat16 if args.bf16 else torch.float32, "cpu")

    tokens = B * L
    six_nt = 6 * n_params * tokens
    result = {
        "benchmark": "pretrain_step",
        "device": str(DEVICE),
        "available": True,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "load_average_1m_before_after": [load_before, load_average()],
        "precision": "bf16-autocast" if args.bf16 else "fp32",
        "model": {
            "name": "paper",
            "batch": B,
            "seq_len": L,
            "encoder_trainable_params": module.encoder.num_trainable_parameters(),
            "trainable_params_with_regression_head": n_params,
        },
        "optimizer": "AdamW " + ("foreach" if args.no_fused else "fused"),
        "cached": {
            "step_s": step_s,
            "clips_per_s": B / step_s,
            "step_gflop_counted": flops_step / 1e9,
            "step_gflop_6NT": six_nt / 1e9,
            "achieved_gflops_counted": flops_step / step_s / 1e9,
            "achieved_gflops_6NT": six_nt / step_s / 1e9,
            "matmul_peak_gflops": peak_gflops,
            "peak_fraction": (flops_step / step_s / 1e9 / peak_gflops) if peak_gflops else None,
            "top_kernels": profile,
        },
        "online": {
            "mode": mode,
            "step_s": online_step_s,
            "clips_per_s": B / online_step_s,
            "backbone_s_per_frame": backbone_s_per_frame,
            "backbone_gflop_per_frame": flops_frame / 1e9,
            "backbone_achieved_gflops": flops_frame / backbone_s_per_frame / 1e9,
        },
        "speedup_cached_vs_online": online_step_s / step_s,
        "flop_ratio_limit": (tokens * flops_frame + flops_step) / flops_step,
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": online_step_s / step_s >= TARGET_SPEEDUP,
        "iters": args.iters,
        "warmup": args.warmup,
    }
    if DEVICE.type == "cuda":
        name = torch.cuda.get_device_name(DEVICE)
        peak = args.peak_tflops or gpu_peak_tflops(name)
        result["gpu"] = {
            "name": name,
            "bf16_peak_tflops": peak,
            "peak_fraction_6NT": (six_nt / step_s / 1e12 / peak) if peak else None,
            "peak_fraction_counted": (flops_step / step_s / 1e12 / peak) if peak else None,
            "target_peak_fraction": TARGET_GPU_PEAK_FRACTION,
            "max_memory_allocated_gib": torch.cuda.max_memory_allocated(DEVICE) / 2**30,
        }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
