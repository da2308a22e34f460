"""Peak memory of pre-training vs dataset size: 1x and 10x clips of a memory-mapped fp16 cache.

A synthetic cache (FeatureCache layout, random fp16 descriptors, no video decoded) of ``N`` and
``10 N`` clips is written; for each, a fresh subprocess pre-trains over ALL clips for
the same number of steps (the 1x cache is read for ``factor`` epochs, the 10x for one; the
DataModule's dataset/sampler/loader: ``CachedWindowDataset`` + ``EpochSeededSampler``,
then corruption, forward, backward, AdamW of ``DenoisingPretrainModule``) and reports its peak
RSS (``ru_maxrss``) plus the peak of its anonymous (private) and file-backed resident memory.
Flat = the 10x peak within ``--tolerance`` of the 1x peak.

    .venv/bin/python experiments/benchmarks/bench_memory.py [--clips 16] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    cache_loader,
    emit,
    load_average,
    peak_rss_mib,
    proc_status_mib,
    write_synthetic_cache,
)

# a small Transformer keeps the CPU run short; memory of the data path is what is measured
SMALL_ENCODER = {"input_dim": 2048, "d_model": 128, "num_layers": 2, "num_heads": 4,
                 "ffn_dim": 256, "max_positions": 256}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--clips", type=int, default=16, help="clips of the 1x cache")
    p.add_argument("--factor", type=int, default=10)
    p.add_argument("--n-crops", type=int, default=4)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--tolerance", type=float, default=0.05, help="relative, for 'flat'")
    p.add_argument("--workdir", type=Path, default=None, help="where the caches go (temp dir)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    return p.parse_args()


def child(cache_dir: Path, batch: int, epochs: int) -> dict[str, Any]:
    """``epochs`` pre-training epochs over every clip of ``cache_dir``; memory figures."""
    import torch

    from seizure_lightning.lightning_modules.masked_pretraining import DenoisingPretrainModule

    torch.manual_seed(0)
    cache, sampler, loader = cache_loader(cache_dir, batch)
    module = DenoisingPretrainModule(encoder=SMALL_ENCODER, seed=0)
    module.set_special_descriptors(cache.mask_descriptor, cache.pad_descriptor)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    base = proc_status_mib()
    peak_anon, peak_file, steps, clips = 0.0, 0.0, 0, 0
    t0 = time.perf_counter()
    for batch_ in (b for epoch in range(epochs) for b in _epoch(loader, sampler, epoch)):
        inputs, _, _ = module.corrupt(batch_, epoch=0, stream=0)
        pred = module(inputs, batch_["attention_mask"])
        loss = (pred - batch_["features"]).pow(2).sum(-1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        status = proc_status_mib()
        peak_anon = max(peak_anon, status.get("RssAnon", 0.0))
        peak_file = max(peak_file, status.get("RssFile", 0.0))
        steps += 1
        clips += len(batch_["index"])
    cache_bytes = sum(p.stat().st_size for p in (cache_dir / "shards").glob("*.npy"))
    return {
        "clips": clips,
        "steps": steps,
        "seconds": round(time.perf_counter() - t0, 2),
        "cache_mib": round(cache_bytes / 2**20, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "peak_rss_anon_mib": round(peak_anon, 1),
        "peak_rss_file_mib": round(peak_file, 1),
        "rss_before_loop_mib": {k: round(v, 1) for k, v in base.items()},
    }


def _epoch(loader, sampler, epoch: int):
    sampler.set_epoch(epoch)
    yield from loader


def run_child(cache_dir: Path, batch: int, epochs: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(cache_dir), "--batch", str(batch),
           "--epochs", str(epochs)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> dict[str, Any]:
    args = parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.batch, args.epochs)))
        return {}
    load_before = load_average()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        runs = {}
        for factor in (1, args.factor):
            n = args.clips * factor
            root = write_synthetic_cache(Path(tmp) / f"cache_{n}", n, n_crops=args.n_crops)
            runs[f"{factor}x"] = run_child(root, args.batch, args.factor // factor)
    small, large = runs["1x"], runs[f"{args.factor}x"]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    anon_ratio = large["peak_rss_anon_mib"] / max(small["peak_rss_anon_mib"], 1e-9)
    result = {
        "benchmark": "memory",
        "load_average_1m_before_after": [load_before, load_average()],
        "setup": {
            "clips_1x": args.clips,
            "factor": args.factor,
            "n_crops": args.n_crops,
            "dim": 2048,
            "frames_per_clip": 250,
            "batch": args.batch,
            "encoder": SMALL_ENCODER,
            "loader": "CachedWindowDataset + EpochSeededSampler + DataLoader (num_workers=0)",
        },
        "runs": runs,
        "peak_rss_ratio": round(ratio, 3),
        "peak_rss_anon_ratio": round(anon_ratio, 3),
        "tolerance": args.tolerance,
        "flat_rss": ratio <= 1 + args.tolerance,
        "flat_anon": anon_ratio <= 1 + args.tolerance,
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
