"""End-to-end preprocessing: frames/s of what ``+experiment=preprocess data=contextual`` does
(decode + crop + backbone + cache write, ``build_feature_cache`` with the composed config) on a
generated contextual manifest, against the backbone alone on the same frames and crops, measured
in the same run. Also the decode-only rate, so a miss says which side bounds it.

    .venv/bin/python experiments/benchmarks/bench_preprocess.py [--preset tiny] [--crops 4]
        [--workers N] [--out result.json]

Target (issue 18): end-to-end >= 0.8 of the backbone-only rate. The backbone is the demo's
(``backbone=tiny``: random ResNet-18, 112x112 crops, the precision ``auto`` picks here).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import emit, load_average
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from seizure_lightning.app import CONFIG_DIR
from seizure_lightning.data.extraction import ClipFeaturizer, load_item_frames
from seizure_lightning.data.feature_cache import build_feature_cache
from seizure_lightning.features.frame_encoder import FrameEncoder

TARGET_RATIO = 0.8


def composed(preset: str, root: Path, workers: int | None, extra: list[str]):
    overrides = ["+experiment=preprocess", "data=contextual", f"synth={preset}",
                 f"paths.root_dir={root}", "logger=none", *extra]
    if workers is not None:
        overrides.append(f"backbone.num_workers={workers}")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", help="synthetic preset of the manifest")
    p.add_argument("--crops", type=int, default=4, help="data.n_crops")
    p.add_argument("--workers", type=int, default=None, help="backbone.num_workers (default: config)")
    p.add_argument("--override", action="append", default=[],
                   help="extra config override, e.g. backbone.precision=fp32 (repeatable)")
    p.add_argument("--max-clips", type=int, default=None, help="only the first N clips")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_preprocess_"))
    try:
        result = run(args, work)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    emit(result, args.out)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from hydra.utils import instantiate

    cfg = composed(args.preset, work, args.workers, args.override)
    dm = instantiate(cfg.data, n_crops=args.crops, _recursive_=False)
    records = dm.records[: args.max_clips] if args.max_clips else dm.records  # generates data
    ext = dm.extraction()  # exactly what the preprocess task extracts
    encoder = FrameEncoder(ext.encoder)
    featurizer = ClipFeaturizer(ext.frames, encoder, offsets=ext.offsets())
    # warm-up: oneDNN creates its primitives during the first calls of each shape
    first = load_item_frames(records[0], ext.frames)
    featurizer.encode_crops(first, ext.item_offsets("warmup"))
    load_before = load_average()

    t0 = time.perf_counter()
    frames = [load_item_frames(r, ext.frames) for r in records]
    decode_s = time.perf_counter() - t0
    n_frames = sum(len(f) for f in frames)

    t0 = time.perf_counter()
    for rec, f in zip(records, frames):
        featurizer.encode_crops(f, ext.item_offsets(rec.clip_id))
    backbone_s = time.perf_counter() - t0
    del frames

    t0 = time.perf_counter()
    root = build_feature_cache(records, work / "cache", ext, progress=False, encoder=encoder)
    e2e_s = time.perf_counter() - t0
    stored = sum(np.load(p, mmap_mode="r").shape[0] for p in (root / "shards").glob("*.npy"))
    if stored != n_frames:
        raise RuntimeError(f"cache holds {stored} frames, decoding gave {n_frames}")
    e2e, backbone, decode = n_frames / e2e_s, n_frames / backbone_s, n_frames / decode_s
    return {
        "benchmark": "preprocess",
        "manifest": f"synthetic preset={args.preset}, contextual, {len(records)} clips, "
                    f"{n_frames} frames",
        "backbone": {"arch": ext.encoder.arch, "weights": ext.encoder.weights,
                     "precision": encoder.precision, "batch_size": ext.encoder.batch_size,
                     "crops": args.crops, "crop_mode": ext.crop_mode},
        "overrides": args.override,
        "decode_workers": ext.num_workers,
        "torch_threads": torch.get_num_threads(),
        "frames": n_frames,
        "end_to_end_frames_per_s": round(e2e, 1),
        "backbone_only_frames_per_s": round(backbone, 1),
        "decode_only_frames_per_s": round(decode, 1),
        "ratio": round(e2e / backbone, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": e2e / backbone >= TARGET_RATIO,
        "seconds": {"end_to_end": round(e2e_s, 2), "backbone_only": round(backbone_s, 2),
                    "decode_only": round(decode_s, 2)},
        "load_average_1m_before_after": [load_before, load_average()],
    }


if __name__ == "__main__":
    main()
