"""Optimisation shared by the LightningModules: parameter groups (no weight decay on biases and
norms), the Hydra ``_partial_`` optimizer, the per-step learning-rate schedule (transformers'
``get_scheduler``) and the ``train/lr`` log."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from transformers import get_scheduler

OptimizerFactory = Callable[[Iterable[Any]], torch.optim.Optimizer]
#: ``factory(optimizer, total_steps)`` -> a torch LR scheduler (Hydra ``_partial_`` of
#: :func:`lr_schedule`, ``conf/scheduler/*.yaml``)
SchedulerFactory = Callable[..., Any]


def param_groups(
    modules: Iterable[nn.Module], lrs: Mapping[int, float] | None = None
) -> list[dict[str, Any]]:
    """Trainable params in two groups: weight decay on matrices, none on biases and norms;
    ``lrs`` gives the module at that position in ``modules`` its own two groups at that rate."""
    lrs = dict(lrs or {})
    buckets: dict[int | None, tuple[list, list]] = {}
    for i, module in enumerate(modules):
        decay, no_decay = buckets.setdefault(i if i in lrs else None, ([], []))
        for p in module.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
    groups: list[dict[str, Any]] = []
    for key, (decay, no_decay) in buckets.items():
        rate = {} if key is None else {"lr": float(lrs[key])}
        if decay or key is None:
            groups.append({"params": decay, **rate})
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0, **rate})
    return groups


def build_optimizer(
    factory: OptimizerFactory | None, modules: Iterable[nn.Module], default_lr: float,
    lr: float | None = None, lrs: Mapping[int, float] | None = None,
) -> torch.optim.Optimizer:
    """``factory(param_groups)`` (a Hydra ``_partial_`` optimizer) or AdamW(default_lr, wd 1e-4);
    ``lr`` (a module's own rate) overrides the factory's; ``lrs``: see :func:`param_groups`."""
    groups = param_groups(modules, lrs)
    if factory is None:
        return torch.optim.AdamW(groups, lr=lr or default_lr, weight_decay=1e-4)
    return factory(groups) if lr is None else factory(groups, lr=lr)


def lr_schedule(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    name: str = "linear",
    warmup_ratio: float = 0.0,
    warmup_steps: int | None = None,
) -> torch.optim.lr_scheduler.LRScheduler:
    """transformers' ``get_scheduler(name)`` stepped per optimizer step over ``total_steps``
    (``linear``: decreased to 0, the paper's; ``constant``), after ``warmup_steps`` (default:
    ``warmup_ratio * total_steps``) of linear warmup."""
    total_steps = max(int(total_steps), 1)
    if warmup_steps is None:
        warmup_steps = math.floor(float(warmup_ratio) * total_steps)
    if name == "constant":
        name = "constant_with_warmup"
    return get_scheduler(name, optimizer, num_warmup_steps=int(warmup_steps),
                         num_training_steps=total_steps)


def optimizers_and_schedule(
    factory: OptimizerFactory | None,
    modules: Iterable[nn.Module],
    default_lr: float,
    scheduler: SchedulerFactory | None,
    total_steps: int,
    lr: float | None = None,
    lrs: Mapping[int, float] | None = None,
) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, with its per-step schedule if any
    (``scheduler(optimizer, total_steps)``)."""
    optimizer = build_optimizer(factory, modules, default_lr=default_lr, lr=lr, lrs=lrs)
    if scheduler is None:
        return optimizer
    schedule = scheduler(optimizer, total_steps=int(total_steps))
    return {"optimizer": optimizer,
            "lr_scheduler": {"scheduler": schedule, "interval": "step", "frequency": 1}}


def log_learning_rate(module: pl.LightningModule, batch_size: int, prog_bar: bool = False) -> None:
    """Log the first param group's current rate as ``train/lr`` (per step), once optimizers
    exist (a training step of either module)."""
    if module.trainer.optimizers:
        module.log(
            "train/lr",
            module.trainer.optimizers[0].param_groups[0]["lr"],
            on_step=True,
            on_epoch=False,
            prog_bar=prog_bar,
            batch_size=batch_size,
        )
