"""Pre-training step throughput: cached descriptors vs an online ResNet-152 backbone (one run).

Cached path: a full ``DenoisingPretrainModule`` train step (corruption plan + gather, forward,
backward, AdamW) on random ``[B, L, 2048]`` descriptors at ``model=paper``.
Online path: the frozen ResNet-152 (no last layer) runs on ``L`` frames of 112x112 per clip under
``inference_mode`` to make those descriptors, then the same train step. By default the backbone is
timed on ``--backbone-frames`` frames and its per-frame time is scaled to ``B * L`` frames (the
backbone cost is linear in frames); ``--online-full`` runs the whole online step literally.
FLOPs are counted with ``torch.utils.flop_counter`` on the meta device (no compute).

    .venv/bin/python experiments/benchmarks/bench_pretrain_step.py [--bf16] [--out result.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seizure_lightning.modules.pretrain import DenoisingPretrainModule
from seizure_lightning.utils.io import atomic_write_json

TARGET_SPEEDUP = 12.0  # issue 9


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
    p.add_argument("--chunk", type=int, default=16, help="frames per backbone forward")
    p.add_argument("--online-full", action="store_true", help="run the full online step literally")
    p.add_argument("--no-fused", action="store_true", help="foreach AdamW instead of fused")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for both paths")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return p.parse_args()


def autocast(enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def make_batch(batch: int, seq_len: int, dim: int) -> dict[str, torch.Tensor]:
    return {
        "features": torch.randn(batch, seq_len, dim).abs(),
        "attention_mask": torch.ones(batch, seq_len, dtype=torch.bool),
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
        pred = module(inputs, batch["attention_mask"])
    loss = (pred.float() - batch["features"]).pow(2).sum(-1).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def resnet152_backbone() -> nn.Module:
    """ImageNet-architecture ResNet-152 without its last layer (random weights: timing only)."""
    model = torchvision.models.resnet152(weights=None)
    model.fc = nn.Identity()
    return model.eval().requires_grad_(False)


@torch.inference_mode()
def describe_frames(backbone: nn.Module, frames: int, chunk: int, bf16: bool) -> torch.Tensor:
    """Descriptors [frames, 2048] of random 112x112 frames, ``chunk`` frames per forward."""
    out = []
    for start in range(0, frames, chunk):
        n = min(chunk, frames - start)
        x = torch.randn(n, 3, 112, 112)  # NCHW: channels_last is several times slower on CPU
        with autocast(bf16):
            out.append(backbone(x).float())
    return torch.cat(out)


def count_flops(fn: Callable[[], Any]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def step_flops(batch: int, seq_len: int) -> tuple[int, int]:
    """(counted FLOPs of one train step, trainable params) at model=paper, on the meta device."""
    with torch.device("meta"):
        module = DenoisingPretrainModule()
        x = torch.randn(batch, seq_len, module.encoder.config.input_dim)

        def run() -> None:
            ((module(x, None) - x).pow(2).sum(-1).mean()).backward()

        flops = count_flops(run)
        params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return flops, params


def frame_flops() -> int:
    with torch.device("meta"):
        backbone = resnet152_backbone()
        x = torch.randn(1, 3, 112, 112)
        with torch.inference_mode():
            return count_flops(lambda: backbone(x))


def main() -> dict[str, Any]:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]
    B, L = args.batch, args.seq_len
    flops_step, n_params = step_flops(B, L)
    flops_frame = frame_flops()

    module = DenoisingPretrainModule(seed=0)  # model=paper, corruption as in the paper
    module.set_special_descriptors(torch.full((2048,), 0.5), torch.zeros(2048))
    module.train()
    opt = torch.optim.AdamW(
        module.parameters(), lr=1e-4, weight_decay=1e-4, fused=not args.no_fused
    )
    batch = make_batch(B, L, 2048)
    backbone = resnet152_backbone()
    for _ in range(args.warmup):
        train_step(module, opt, batch, args.bf16)
        describe_frames(backbone, args.chunk, args.chunk, args.bf16)

    # Interleave the two measurements so that load from other processes hits both alike.
    step_times, frame_times = [], []
    frames_per_round = max(1, min(args.backbone_frames, B * L) // max(args.iters, 1))
    for _ in range(args.iters):
        start = time.perf_counter()
        train_step(module, opt, batch, args.bf16)
        step_times.append(time.perf_counter() - start)
        if not args.online_full:
            start = time.perf_counter()
            describe_frames(backbone, frames_per_round, args.chunk, args.bf16)
            frame_times.append((time.perf_counter() - start) / frames_per_round)
    step_s = sum(step_times) / len(step_times)

    if args.online_full:
        start = time.perf_counter()
        feats = describe_frames(backbone, B * L, args.chunk, args.bf16).view(B, L, -1)
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

    tokens = B * L
    six_nt = 6 * n_params * tokens
    result = {
        "benchmark": "pretrain_step",
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "load_average_1m_before_after": [load_before, os.getloadavg()[0]],
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
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
