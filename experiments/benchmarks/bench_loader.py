"""Pre-training data loading: loader time vs step time with cached features.

Part 1 (the real path, measured): ``ContextualClipDataModule`` (``features=cached``) on the tiny
synthetic EMU benchmark (generated and extracted once, with the tiny backbone: ResNet-18,
random weights, 512-d), ``DenoisingPretrainModule`` with the paper's Transformer
(d_model 1024, 6 layers, 8 heads; input 512-d here), ``lightning.Trainer`` with the
``SimpleProfiler``: time in ``train_dataloader_next`` vs ``run_training_batch`` per step.

Part 2 (paper descriptor size): the same dataset class over a synthetic 2048-d fp16 cache; the
loader's time per clip (``next(iter)``), against the measured CPU step time per clip of part 1
and the FLOP-derived step time per clip of a GPU at 40% of its bf16 peak: how many loader
workers keep each GPU fed (with ``w`` prefetching workers the
GPU waits on data only when ``loader time per clip > w x step time per clip``).

    .venv/bin/python experiments/benchmarks/bench_loader.py [--epochs 3] [--out result.json]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from common import cache_loader, emit, load_average, write_synthetic_cache

from seizure_lightning.features.frame_encoder import cpu_supports_bf16

TARGET_FRACTION = 0.05  # issue 9: loader time < 5% of step time
GFLOP_PER_CLIP_STEP = 6 * 78e6 * 256 / 1e9  # ~120 GFLOP (6 N T)
GPU_BF16_PEAK_TFLOPS = {"V100 (fp16)": 125.0, "A100": 312.0, "H100 SXM": 989.0}
FRAMES_TINY = {"fps": 25.0, "resize": [64, 85], "crop": 56, "mean": [0.485, 0.456, 0.406],
               "std": [0.229, 0.224, 0.225], "box_margin": 0.1, "box_smooth_frames": 5,
               "decoder": "auto"}
BACKBONE_TINY = {"arch": "resnet18", "weights": None, "dim": 512, "batch_size": 128,
                 "precision": "auto", "channels_last": True, "device": "cpu", "num_workers": 0}
PAPER_ENCODER = {"d_model": 1024, "num_layers": 6, "num_heads": 8, "ffn_dim": 4096,
                 "max_positions": 256}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=3, help="clips per step (part 1)")
    p.add_argument("--workdir", type=Path,
                   default=Path(tempfile.gettempdir()) / "seizure_lightning_bench",
                   help="synthetic data + cache (kept between runs)")
    p.add_argument("--loader-batches", type=int, default=6, help="batches timed (part 2)")
    p.add_argument("--loader-batch", type=int, default=16, help="clips per batch (part 2)")
    p.add_argument("--out", type=Path, default=None)
    return p.parse_args()


def lightning_run(workdir: Path, epochs: int, batch: int) -> dict[str, Any]:
    """Profiled pre-training on the tiny synthetic benchmark's cached descriptors."""
    import lightning.pytorch as pl
    from lightning.pytorch.profilers import SimpleProfiler

    from seizure_lightning.data.contextual import ContextualClipDataModule
    from seizure_lightning.lightning_modules.masked_pretraining import DenoisingPretrainModule

    dm = ContextualClipDataModule(
        frames=FRAMES_TINY, backbone=BACKBONE_TINY, synth={"preset": "tiny", "seed": 0},
        data_dir=str(workdir / "data"), cache_dir=str(workdir / "cache"), batch_size=batch,
        val_fraction=0.0, features="cached", n_crops=4, num_workers=0,
    )
    t0 = time.perf_counter()
    dm.prepare_data()  # synthetic data + descriptor cache, once (reused afterwards)
    prepare_s = time.perf_counter() - t0
    dm.setup("fit")
    module = DenoisingPretrainModule(encoder=PAPER_ENCODER, input={"descriptor_dim": 512},
                                     seed=0, scheduler=None)
    module.set_special_descriptors(*dm.special_descriptors())
    precision = "bf16-mixed" if cpu_supports_bf16() else "32-true"
    profiler = SimpleProfiler()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_epochs=epochs, precision=precision, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        profiler=profiler, limit_val_batches=0, num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, datamodule=dm)
    durations = profiler.recorded_durations
    load = _pick(durations, "train_dataloader_next")
    step = _pick(durations, "run_training_batch")
    n = min(len(load), len(step))
    load, step = load[:n], step[:n]
    # the first step pays one-off costs (allocator, oneDNN primitives): medians of the rest
    tail_load, tail_step = (load[1:], step[1:]) if n > 1 else (load, step)
    return {
        "data": "synthetic preset=tiny, contextual clips, cache n_crops=4, ResNet-18 (512-d)",
        "model": {**PAPER_ENCODER, "input_dim": 512},
        "precision": precision,
        "train_clips": len(dm.train_records),
        "batch": batch,
        "steps": n,
        "prepare_s": round(prepare_s, 2),
        "loader_s_per_step_median": statistics.median(tail_load),
        "step_s_median": statistics.median(tail_step),
        "loader_s_total": sum(load),
        "step_s_total": sum(step),
        "fraction_median": statistics.median(tail_load) / statistics.median(tail_step),
        "fraction_total": sum(load) / sum(step),
    }


def _pick(durations: dict[str, list[float]], key: str) -> list[float]:
    for name, values in durations.items():
        if key in name:
            return list(values)
    raise KeyError(f"profiler has no {key!r} action: {sorted(durations)}")


def loader_2048(workdir: Path, batches: int, batch: int) -> dict[str, Any]:
    """Seconds per clip to load 2048-d windows from a memory-mapped fp16 cache (1 process)."""
    n_clips = batches * batch
    root = write_synthetic_cache(workdir / f"synthetic_2048_{n_clips}", n_clips, n_crops=4)
    _, _, loader = cache_loader(root, batch)
    times = []
    it = iter(loader)
    while True:
        t0 = time.perf_counter()
        try:
            next(it)
        except StopIteration:
            break
        times.append(time.perf_counter() - t0)
    s_per_clip = statistics.median(times) / batch
    return {"clips": n_clips, "batch": batch, "batches": len(times),
            "s_per_batch_median": statistics.median(times), "s_per_clip": s_per_clip}


def main() -> dict[str, Any]:
    args = parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    load_before = load_average()
    args.workdir.mkdir(parents=True, exist_ok=True)
    run = lightning_run(args.workdir, args.epochs, args.batch)
    part2 = loader_2048(args.workdir, args.loader_batches, args.loader_batch)
    cpu_step_per_clip = run["step_s_median"] / args.batch
    gpus = {}
    for name, peak in GPU_BF16_PEAK_TFLOPS.items():
        step_s = GFLOP_PER_CLIP_STEP / (0.4 * peak * 1e3)
        gpus[name] = {"step_s_per_clip_at_40pct": step_s,
                      "loader_fraction_1_worker": part2["s_per_clip"] / step_s,
                      "workers_to_keep_up": math.ceil(part2["s_per_clip"] / step_s)}
    result = {
        "benchmark": "loader",
        "load_average_1m_before_after": [load_before, load_average()],
        "target_fraction": TARGET_FRACTION,
        "lightning_profiled": run,
        "fraction": run["fraction_median"],
        "meets_target": run["fraction_median"] < TARGET_FRACTION,
        "paper_dim_2048": {
            **part2,
            "cpu_step_s_per_clip": cpu_step_per_clip,
            "fraction_vs_cpu_step": part2["s_per_clip"] / cpu_step_per_clip,
            "gpu_projection": gpus,
        },
    }
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
