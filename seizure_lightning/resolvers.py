"""OmegaConf resolvers used by the configs (registered once, before Hydra composes).

None of them has side effects: composing a config never generates, decodes or downloads data.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

_SLURM_ID_KEYS = ("SLURM_ARRAY_JOB_ID", "SLURM_JOB_ID")


def run_id() -> str:
    """A run folder name that never collides and survives a SLURM requeue.

    Under SLURM it is the job id (with the array task id), so a requeued job finds its own
    folder and ``last.ckpt``; under torchrun with ``--rdzv-id`` every rank gets the same
    folder; elsewhere a timestamp with microseconds.
    """
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"slurm-{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{os.environ['SLURM_JOB_ID']}"
    if os.environ.get("TORCHELASTIC_RUN_ID", "none") != "none":  # torchrun --rdzv-id=...
        return f"torchrun-{os.environ['TORCHELASTIC_RUN_ID']}"
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")


def launch_config_source() -> str:
    """The Hydra search path entry of the launch folder's ``conf/`` (``./conf/local/default.yaml``
    holds a user's own defaults, also for an installed package). Without that folder: Hydra's own
    configs, which are always searched anyway (a missing folder would make Hydra warn)."""
    conf = Path.cwd() / "conf"
    return f"file://{conf}" if conf.is_dir() else "pkg://hydra.conf"


def _loso_subjects(data_cfg) -> str:
    """Comma-separated subjects of the seizure manifest (expands a LOSO sweep)."""
    from seizure_lightning.loso.subjects import sweep_subjects

    return ",".join(sweep_subjects(data_cfg))


def _feature_dim(arch: str, regions: int = 1) -> int:
    """Width of the frame descriptor of backbone ``arch`` on a ``regions`` grid
    (``backbone.dim``)."""
    from seizure_lightning.features.frame_encoder import feature_dim

    return feature_dim(arch, regions)


def dataset_tag(manifest: str | None, preset: str, seed: int) -> str:
    """A short name of the dataset: ``synthetic-<preset>-seed<seed>``, or for a user's manifest
    a pseudonymous ``manifest-<8 hex>`` (a hash of its resolved path: the same manifest gets the
    same name, and no folder or file name reaches a tracker; name a sweep with ``loso.name``)."""
    if not manifest:
        return f"synthetic-{preset}-seed{seed}"
    import hashlib

    resolved = str(Path(str(manifest)).expanduser().resolve())
    return f"manifest-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def register_resolvers() -> None:
    """Register ``sl.run_id``, ``sl.cwd``, ``sl.launch_config``, ``sl.dataset_tag``,
    ``sl.loso_subjects`` and ``sl.feature_dim`` (idempotent)."""
    if not OmegaConf.has_resolver("sl.run_id"):
        OmegaConf.register_new_resolver("sl.run_id", run_id, use_cache=True)
    if not OmegaConf.has_resolver("sl.cwd"):  # the launch folder, also where Hydra is not set up
        OmegaConf.register_new_resolver("sl.cwd", lambda: os.getcwd())  # (a sweep's callbacks)
    if not OmegaConf.has_resolver("sl.launch_config"):
        OmegaConf.register_new_resolver("sl.launch_config", launch_config_source)
    if not OmegaConf.has_resolver("sl.dataset_tag"):
        OmegaConf.register_new_resolver("sl.dataset_tag", dataset_tag)
    if not OmegaConf.has_resolver("sl.loso_subjects"):
        OmegaConf.register_new_resolver("sl.loso_subjects", _loso_subjects)
    if not OmegaConf.has_resolver("sl.feature_dim"):
        OmegaConf.register_new_resolver("sl.feature_dim", _feature_dim)
