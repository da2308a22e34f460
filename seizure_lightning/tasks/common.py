"""What the training tasks share: callbacks, loggers, the Trainer, resume, the DataModule."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.tracking import build_loggers, log_config
from seizure_lightning.utils.io import atomic_write_bytes
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)

_LAUNCHED_ENV = ("LOCAL_RANK", "SLURM_PROCID", "TORCHELASTIC_RUN_ID")


def overrides() -> list[str]:
    """The command line's task overrides (empty outside Hydra)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def check_launch(cfg: DictConfig) -> None:
    """Refuse local multi-process DDP inside a Hydra multirun (Lightning re-launches argv).

    Processes started by SLURM (``SLURM_PROCID``) or torchrun (``TORCHELASTIC_RUN_ID``) are used
    as they are; only Lightning's own local launcher would re-run the sweep's command line.
    """
    strategy = cfg.trainer.get("strategy")
    name = strategy if isinstance(strategy, str) else str((strategy or {}).get("_target_", ""))
    devices = cfg.trainer.get("devices", 1)
    many = (isinstance(devices, int) and devices > 1) or devices in ("auto", -1) or (
        cfg.trainer.get("num_nodes", 1) > 1
    )
    launched = any(k in os.environ for k in _LAUNCHED_ENV)
    if is_multirun() and many and "ddp" in name.lower() and not launched:
        raise RuntimeError(
            f"trainer={_trainer_name()} starts several processes with Lightning's local DDP "
            "launcher, which re-runs the command line once per rank: inside a Hydra multirun (-m) "
            "every rank would re-run the whole sweep. Supported instead: the sweep on SLURM "
            "(-m ... hydra/launcher=slurm trainer=ddp: SLURM starts one task per device), one "
            "device per job locally (-m ... trainer=cpu or trainer=gpu), or one run at a time "
            "without -m (e.g. +experiment=loso data.test_subject=S trainer=ddp) or under torchrun."
        )


def _trainer_name() -> str:
    if not HydraConfig.initialized():
        return "<trainer>"
    return str(HydraConfig.get().runtime.choices.get("trainer", "<trainer>"))


def build_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """Instantiate every callback of ``cfg.callbacks`` (no progress bar when the trainer has
    ``enable_progress_bar: false``)."""
    from lightning.pytorch.callbacks import ProgressBar

    bar = cfg.trainer.get("enable_progress_bar", True)
    callbacks = []
    for node in (cfg.get("callbacks") or {}).values():
        if isinstance(node, DictConfig) and "_target_" in node:
            callback = instantiate(node)
            if bar or not isinstance(callback, ProgressBar):
                callbacks.append(callback)
    return callbacks


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file beside the checkpoint, then ``os.replace``.

    Lightning's own writer goes through ``fsspec`` transactions, which stage the file in
    ``$TMPDIR``: when that is another file system than the run dir (node-local ``/tmp`` vs. a
    shared scratch on a cluster), the final ``shutil.move`` is a copy and a kill in the middle
    leaves a truncated ``last.ckpt``. Remote URLs still go through Lightning's writer.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        import io

        import torch

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getbuffer())
        os.chmod(path, 0o666 & ~_umask())  # the temp file was private (0600), as mkstemp makes it


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class RNGStateCheckpoint(pl.Callback):
    """Keeps the global RNG states (torch, CUDA, numpy, Python) in every checkpoint and restores
    them when training resumes, so dropout draws the same random numbers as in a run that was
    never interrupted. (Data randomness needs no state: it is seeded by (seed, epoch, index).)

    Restored at ``on_train_start``: after the train loader was built and iterated, right before
    the first training step. Ranks are seeded alike and draw alike, so rank 0's state is theirs.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        from lightning.fabric.utilities.seed import _collect_rng_states

        states = _collect_rng_states()
        kind, keys, pos, has_gauss, gauss = states["numpy"]
        states["numpy"] = [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]
        return {"rng": states}  # plain types and tensors: loads with weights_only=True

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict.get("rng")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        import numpy as np
        from lightning.fabric.utilities.seed import _set_rng_states

        states = dict(self._pending)
        kind, keys, pos, has_gauss, gauss = states["numpy"]
        states["numpy"] = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss)
        if not states.get("torch.cuda"):
            states.pop("torch.cuda", None)
        _set_rng_states(states)
        self._pending = None


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list | None = None,
                  callbacks: list | None = None, **overrides: Any) -> pl.Trainer:
    """The Lightning Trainer of ``cfg.trainer`` with callbacks, loggers, atomic checkpoint
    writes, RNG state in checkpoints and, under SLURM, Lightning's requeue on SIGUSR1."""
    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    check_launch(cfg)
    plugins: list[Any] = [AtomicCheckpointIO()]
    if SLURMEnvironment.detect():
        import signal

        # Lightning owns pre-emption: on SIGUSR1 it saves an HPC checkpoint and requeues the job;
        # the requeued job gets the same SLURM job id, hence the same run dir.
        plugins.append(SLURMEnvironment(auto_requeue=True, requeue_signal=signal.SIGUSR1))
    callbacks = list(callbacks if callbacks is not None else build_callbacks(cfg))
    if not loggers:  # LearningRateMonitor refuses a Trainer without a logger (logger=none)
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if not any(isinstance(c, RNGStateCheckpoint) for c in callbacks):
        callbacks.append(RNGStateCheckpoint())
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.update(overrides)
    return instantiate(
        trainer_cfg, callbacks=callbacks, logger=loggers if loggers else False,
        plugins=plugins, _convert_="all",
    )


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """``ckpt_path`` to resume from: the config's, or the newest of this run dir's
    ``checkpoints/last.ckpt`` and Lightning's SLURM ``hpc_ckpt_*.ckpt`` (saved on SIGUSR1)."""
    given = cfg.get("ckpt_path")
    if given not in (None, "last"):
        return str(given)
    found = latest_checkpoint(run_dir)
    if found is None and given == "last":
        raise FileNotFoundError(f"ckpt_path=last but {run_dir / 'checkpoints' / 'last.ckpt'} "
                                "does not exist")
    if found is not None:
        log.info("resuming from %s", found)
        return str(found)
    return None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The most recent resumable checkpoint of a run dir (and leftovers of killed writes
    removed), or None."""
    ckpt_dir = run_dir / "checkpoints"
    if global_rank() == 0:
        for tmp in ckpt_dir.glob(".*.ckpt.*.tmp"):  # a write killed before its rename
            tmp.unlink(missing_ok=True)
    candidates = [p for p in (ckpt_dir / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt"))
                  if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def build_datamodule(cfg: DictConfig, **overrides: Any):
    """Instantiate ``cfg.data`` (plain dicts inside); refuses an unsupported launch first,
    before any data work."""
    check_launch(cfg)
    return instantiate(cfg.data, _convert_="all", **overrides)


def setup_loggers(cfg: DictConfig, run_dir: Path) -> list:
    """Loggers with the redacted config already logged.

    Only rank 0 owns the run dir's ``wandb_id.txt`` (other ranks never start a wandb run; with
    torchrun/SLURM all ranks start at once and would race to create the file).
    """
    if global_rank() != 0:
        cfg = _without_wandb_id_file(cfg, global_rank())
    loggers = build_loggers(cfg, run_dir)
    log_config(loggers, cfg, overrides())
    return loggers


def _without_wandb_id_file(cfg: DictConfig, rank: int) -> DictConfig:
    """A copy of ``cfg`` whose wandb loggers have a placeholder id (not read from or written to
    the run dir)."""
    from omegaconf import open_dict

    cfg = cfg.copy()
    for node in (cfg.get("logger") or {}).values():
        if isinstance(node, DictConfig) and str(node.get("_target_", "")).endswith("WandbLogger"):
            with open_dict(node):
                node.id = node.get("id") or f"rank{rank}-unused"
    return cfg


def optimizer_factory(cfg: DictConfig):
    """The ``_partial_`` optimizer. ``fused: null`` -> fused kernels for AdamW (CPU and CUDA:
    one kernel per step instead of one per tensor; ~30x faster on a CPU here)."""
    node = OmegaConf.to_container(cfg.optimizer, resolve=True)
    if node.get("fused") is None:
        node["fused"] = node["_target_"].endswith(("Adam", "AdamW"))
    return instantiate(node)
