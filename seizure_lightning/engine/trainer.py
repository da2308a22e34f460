"""The Lightning Trainer of a run: launch checks, callbacks, atomic checkpoint writes, SLURM
requeue, and the DataModule of ``cfg.data``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.engine.checkpoints import AtomicCheckpointIO, RNGStateCheckpoint
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

_LAUNCHED_ENV = ("LOCAL_RANK", "SLURM_PROCID", "TORCHELASTIC_RUN_ID")


def is_multirun() -> bool:
    """True inside a job of a Hydra multirun (``-m``)."""
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

    from seizure_lightning.engine.progress_bar import PlainProgressBar
    from seizure_lightning.utils.progress import progress_mode

    bar = cfg.trainer.get("enable_progress_bar", True)
    mode = progress_mode()  # SEIZURE_LIGHTNING_PROGRESS: bar | plain | off (auto by default)
    callbacks = []
    for node in (cfg.get("callbacks") or {}).values():
        if isinstance(node, DictConfig) and "_target_" in node:
            callback = instantiate(node)
            if not isinstance(callback, ProgressBar) or (bar and mode == "bar"):
                callbacks.append(callback)
            elif bar and mode == "plain":  # no \r redraws: log lines in SLURM files, CI, sweeps
                callbacks.append(PlainProgressBar())
    return callbacks


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
    from lightning.pytorch.callbacks import ProgressBar

    if not any(isinstance(c, ProgressBar) for c in callbacks):  # else Lightning adds its tqdm bar
        trainer_cfg["enable_progress_bar"] = False
    return instantiate(
        trainer_cfg, callbacks=callbacks, logger=loggers if loggers else False,
        plugins=plugins, _convert_="all",
    )


def build_datamodule(cfg: DictConfig, **overrides: Any):
    """Instantiate ``cfg.data`` (plain dicts inside); refuses an unsupported launch first,
    before any data work."""
    check_launch(cfg)
    return instantiate(cfg.data, _convert_="all", **overrides)


def optimizer_factory(cfg: DictConfig):
    """The ``_partial_`` optimizer. ``fused: null`` -> fused kernels for AdamW (CPU and CUDA:
    one kernel per step instead of one per tensor; ~30x faster on a CPU here)."""
    node = OmegaConf.to_container(cfg.optimizer, resolve=True)
    if node.get("fused") is None:
        node["fused"] = node["_target_"].endswith(("Adam", "AdamW"))
    return instantiate(node)


#: keys of a ``model`` node that the fold runner reads, not the module
RUNNER_KEYS = ("name", "from_scratch")


def build_module(node: DictConfig, cfg: DictConfig) -> pl.LightningModule:
    """Instantiate a LightningModule node (``model``, ``pretrain.module``; without its
    :data:`RUNNER_KEYS`) with the run's ``_partial_`` optimizer and schedule; its nested config
    nodes reach the module as they are (the module instantiates its own parts, so a checkpoint
    alone rebuilds it)."""
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    fields = OmegaConf.to_container(node, resolve=True)
    for key in RUNNER_KEYS:
        fields.pop(key, None)
    return instantiate(fields, optimizer=optimizer_factory(cfg), scheduler=scheduler,
                       _recursive_=False)
