"""Helpers shared by the benchmark scripts: machine facts, load average, JSON output, and a
synthetic fp16 descriptor cache in the :class:`~seizure_lightning.data.feature_cache.FeatureCache`
layout (no video decoded, no backbone run)."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np

CLIP_FRAMES = 250  # a 10-s clip at 25 fps


def load_average() -> float:
    """1-minute load average (other processes share this machine: numbers are noisy)."""
    return round(os.getloadavg()[0], 2)


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpuinfo(field: str) -> str | None:
    """The first ``field`` line of /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith(field)), None)
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, bf16 support and ISA, memory, GPU (if any)."""
    import torch

    from seizure_lightning.features.frame_encoder import cpu_supports_bf16, resolve_precision

    flags = set((cpuinfo("flags") or "").split())
    info: dict[str, Any] = {
        "cpu": cpuinfo("model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_bf16": cpu_supports_bf16(),
        "cpu_isa": [f for f in ISA_FLAGS if f in flags],
        # what `precision: auto` runs here: bf16 autocast where the CPU has native bf16, else fp32
        "cpu_precision": resolve_precision("auto", torch.device("cpu")),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_gib": round(props.total_memory / 2**30, 1),
            "bf16": torch.cuda.is_bf16_supported(),
        }
    return info


def versions() -> dict[str, str]:
    """Python's and the imported modules' versions (torch's with its CUDA build tag)."""
    out = {"python": platform.python_version()}
    for name in ("torch", "torchvision", "lightning", "transformers", "numpy", "av", "decord"):
        try:
            out[name] = str(getattr(__import__(name), "__version__", "?"))
        except ImportError:
            out[name] = "missing"
    return out


def sync(device: str | Any) -> None:
    """Wait for the GPU's queued work (timing a CUDA op needs it); nothing on the CPU."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def cache_loader(root: Path, batch: int) -> tuple[Any, Any, Any]:
    """``(cache, sampler, loader)`` over one random-crop 256-frame window of every clip of the
    cache at ``root``: the pre-training DataModule's dataset, sampler and loader (no workers)."""
    import torch

    from seizure_lightning.data.datasets import CachedWindowDataset, Window
    from seizure_lightning.data.feature_cache import FeatureCache
    from seizure_lightning.data.sampling import EpochSeededSampler

    cache = FeatureCache.open(root)
    windows = [Window(iid, i, 0) for i, iid in enumerate(cache.ids)]
    dataset = CachedWindowDataset(cache, windows, 256, random_crop=True, seed=0)
    sampler = EpochSeededSampler(dataset, shuffle=True, seed=0)
    return cache, sampler, torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler)


def emit(result: dict[str, Any], out: Path | None) -> None:
    """Print the JSON and, with ``out``, write it atomically."""
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if out is not None:
        from seizure_lightning.utils.io import atomic_write_json

        atomic_write_json(out, json.loads(text))


def peak_rss_mib() -> float:
    """Peak resident set size of this process (``ru_maxrss``) in MiB."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def proc_status_mib() -> dict[str, float]:
    """Current RssAnon / RssFile / VmHWM from /proc/self/status (Linux), in MiB."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("RssAnon", "RssFile", "RssShmem", "VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def write_synthetic_cache(
    root: Path,
    n_clips: int,
    *,
    dim: int = 2048,
    n_crops: int = 4,
    frames: int = CLIP_FRAMES,
    shard_size: int = 16,
    seed: int = 0,
) -> Path:
    """A finished feature cache of ``n_clips`` random fp16 clips (FeatureCache layout).

    One shard of random descriptors is generated and written ``ceil(n / shard_size)`` times, so
    a 10x cache costs disk writes only. ``FeatureCache.open(root)`` reads it like a real one.
    """
    from seizure_lightning.data.feature_cache import _shard_name, _write_shard
    from seizure_lightning.utils.io import atomic_save_npy, atomic_write_json

    rng = np.random.default_rng(seed)
    base = rng.standard_normal((shard_size * frames, n_crops, dim), dtype=np.float32)
    base = np.abs(base).astype(np.float16)
    ids = [f"clip{i:06d}" for i in range(n_clips)]
    plan = [ids[i : i + shard_size] for i in range(0, n_clips, shard_size)]
    meta = {
        "extraction": {"encoder": {"dim": dim}, "crops": {"n_crops": n_crops}, "synthetic": True},
        "manifest_key": f"synthetic-{n_clips}",
        "dim": dim,
        "dtype": "float16",
        "n_items": n_clips,
        "n_shards": len(plan),
        "shard_size": shard_size,
    }
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / "items.json", {"shards": plan})
    atomic_write_json(root / "meta.json", meta)
    special = np.stack([np.full(dim, 0.5, np.float32), np.zeros(dim, np.float32)])
    atomic_save_npy(root / "special.npy", special)
    for s, shard_ids in enumerate(plan):
        if (root / "shards" / f"{_shard_name(s)}.json").is_file():
            continue
        entries = {
            iid: {"offset": j * frames, "length": frames, "subject_id": f"s{s % 7}",
                  "label": None, "fps": 25.0}
            for j, iid in enumerate(shard_ids)
        }
        feats = [base[: len(shard_ids) * frames]]
        _write_shard(root, s, feats, entries, dim, n_crops)
    return root
