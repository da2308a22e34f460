"""What the training tasks share: callbacks, loggers, the Trainer, resume, the DataModule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.tracking import build_loggers, log_config
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

_LAUNCHED_ENV = ("LOCAL_RANK", "SLURM_PROCID", "TORCHELASTIC_RUN_ID")


def overrides() -> list[str]:
    """The command line's task overrides (empty outside Hydra)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def check_launch(cfg: DictConfig) -> None:
    """Refuse local multi-process DDP inside a Hydra multirun (Lightning re-launches argv)."""
    import os

    strategy = cfg.trainer.get("strategy")
    name = strategy if isinstance(strategy, str) else str((strategy or {}).get("_target_", ""))
    devices = cfg.trainer.get("devices", 1)
    many = (isinstance(devices, int) and devices > 1) or devices in ("auto", -1) or (
        cfg.trainer.get("num_nodes", 1) > 1
    )
    launched = any(k in os.environ for k in _LAUNCHED_ENV)
    if is_multirun() and many and "ddp" in name.lower() and not launched:
        raise RuntimeError(
            "Multi-process DDP inside a local Hydra multirun is not supported: Lightning's ddp "
            "re-launches the command line per rank, which would re-run the whole sweep. Run the "
            "sweep with hydra/launcher=slurm (one SLURM task per device) or start each fold under "
            "torchrun; locally, use one device per fold (trainer=cpu or trainer=gpu)."
        )


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


def build_trainer(cfg: DictConfig, run_dir: Path, loggers: list | None = None,
                  callbacks: list | None = None, **overrides: Any) -> pl.Trainer:
    """The Lightning Trainer of ``cfg.trainer`` with callbacks, loggers and SLURM requeue."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    check_launch(cfg)
    kwargs: dict[str, Any] = {}
    if SLURMEnvironment.detect():
        import signal

        # Lightning owns pre-emption: on SIGUSR1 it saves an HPC checkpoint and requeues the job;
        # the requeued job gets the same SLURM job id, hence the same run dir.
        kwargs["plugins"] = [SLURMEnvironment(auto_requeue=True, requeue_signal=signal.SIGUSR1)]
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.update(overrides)
    return instantiate(
        trainer_cfg, callbacks=callbacks if callbacks is not None else build_callbacks(cfg),
        logger=loggers if loggers else False, _convert_="all", **kwargs,
    )


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """``ckpt_path`` to resume from: the config's, or ``last.ckpt`` of this run dir if present."""
    given = cfg.get("ckpt_path")
    last = run_dir / "checkpoints" / "last.ckpt"
    if given == "last" or (given is None and last.is_file()):
        if last.is_file():
            log.info("resuming from %s", last)
            return str(last)
        if given == "last":
            raise FileNotFoundError(f"ckpt_path=last but {last} does not exist")
        return None
    return str(given) if given else None


def build_datamodule(cfg: DictConfig, **overrides: Any):
    """Instantiate ``cfg.data`` (plain dicts inside)."""
    return instantiate(cfg.data, _convert_="all", **overrides)


def setup_loggers(cfg: DictConfig, run_dir: Path) -> list:
    """Loggers with the redacted config already logged."""
    loggers = build_loggers(cfg, run_dir)
    log_config(loggers, cfg, overrides())
    return loggers


def optimizer_factory(cfg: DictConfig):
    """The ``_partial_`` optimizer. ``fused: null`` -> fused kernels for AdamW (CPU and CUDA:
    one kernel per step instead of one per tensor; ~30x faster on a CPU here)."""
    node = OmegaConf.to_container(cfg.optimizer, resolve=True)
    if node.get("fused") is None:
        node["fused"] = node["_target_"].endswith(("Adam", "AdamW"))
    return instantiate(node)
