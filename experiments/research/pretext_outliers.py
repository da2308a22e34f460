"""Which pre-training clips dominate the pretext loss? (FINDINGS.md §10)

    .venv/bin/python experiments/research/pretext_outliers.py RUN_DIR [--epochs 20] [--top 8]

RUN_DIR is a finished pre-training run (``logs/<name>/pretrain``: its ``.hydra/config.yaml``
and ``checkpoints/last.ckpt``). Replays the training clips under the corruption draws of the
first ``--epochs`` epochs (the same seeded plans the run used) and prints, per clip, the largest
target value at a corrupted position and the trained model's mean squared error on the
corrupted positions; then the share of the total corrupted-position error that the worst clips
carry. Nothing is trained.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from seizure_lightning.data.corruption import TRAIN_STREAM, corrupted_positions
from seizure_lightning.engine.trainer import build_datamodule, build_module
from seizure_lightning.resolvers import register_resolvers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    register_resolvers()
    cfg = OmegaConf.load(args.run_dir / ".hydra" / "config.yaml")
    cfg.paths.output_dir = str(args.run_dir)  # the run's own ${hydra:...} value
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    module = build_module(cfg.pretrain.module, cfg)
    state = torch.load(args.run_dir / "checkpoints" / "last.ckpt", map_location="cpu",
                       weights_only=False)["state_dict"]
    module.load_state_dict(state)
    module.set_special_descriptors(*dm.special_descriptors())
    module.eval()
    peak: dict[int, float] = {}
    err_sum: dict[int, float] = {}
    count: dict[int, int] = {}
    with torch.no_grad():
        for epoch in range(args.epochs):
            for batch in dm.train_dataloader():
                inputs, order, masked = module.corrupt(batch, epoch, TRAIN_STREAM)
                valid = batch["attention_mask"].to(torch.bool)
                real = valid & ~masked
                target = module.target(batch["features"], inputs, valid, real)
                pred = module(inputs, valid, real).float()
                err = (pred - target).pow(2).sum(-1)
                corrupted = corrupted_positions(order, masked) & valid
                tmax = (target.abs().amax(-1) * corrupted).amax(1)
                for row, clip in enumerate(batch["index"].tolist()):
                    peak[clip] = max(peak.get(clip, 0.0), float(tmax[row]))
                    err_sum[clip] = err_sum.get(clip, 0.0) + float((err[row] * corrupted[row]).sum())
                    count[clip] = count.get(clip, 0) + int(corrupted[row].sum())
    clips = sorted(err_sum, key=lambda c: -err_sum[c])
    total = sum(err_sum.values())
    records = dm.train_records
    print(f"{len(clips)} training clips, {args.epochs} epochs of corruption draws; "
          f"corrupted-position MSE {total / max(1, sum(count.values())):.3f}")
    print("| clip (patient) | largest |target| at a corrupted position | its MSE | share of all error |")
    print("| --- | --- | --- | --- |")
    for clip in clips[: args.top]:
        name = f"{records[clip].clip_id} ({records[clip].subject_id})"
        print(f"| {name} | {peak[clip]:.1f} | {err_sum[clip] / max(1, count[clip]):.3f} | "
              f"{err_sum[clip] / total:.1%} |")
    peaks = np.array([peak[c] for c in clips])
    print(f"median clip: largest |target| {np.median(peaks):.1f}; "
          f"worst {args.top} clips carry {sum(err_sum[c] for c in clips[: args.top]) / total:.1%}"
          " of the error")


if __name__ == "__main__":
    main()
