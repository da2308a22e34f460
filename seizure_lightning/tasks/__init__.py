"""Tasks: one plain function of the composed config per ``task`` value.

The registry maps the config's ``task`` key to ``module:function``; modules are imported
lazily so ``--help`` and ``--cfg`` stay fast.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seizure_lightning.utils.logging import get_logger, one_line_per_event

log = get_logger(__name__)

TASKS: dict[str, str] = {
    "synthesize": "seizure_lightning.tasks.synthesize:synthesize",
    "preprocess": "seizure_lightning.tasks.preprocess:preprocess",
    "detect": "seizure_lightning.tasks.detect:detect",
    "pretrain": "seizure_lightning.tasks.pretrain:pretrain",
    "finetune": "seizure_lightning.tasks.finetune:finetune",
    "loso": "seizure_lightning.loso.fold:loso_fold",
    "train_all": "seizure_lightning.tasks.train_all:train_all",
    "predict": "seizure_lightning.tasks.predict:predict",
}


def resolve_task(name: str) -> Callable[[DictConfig], Any]:
    """The function registered for task ``name``."""
    if name not in TASKS:
        raise ValueError(
            f"Unknown task {name!r}. Choose an experiment (+experiment=NAME) or set task= one of: "
            + ", ".join(sorted(TASKS))
        )
    module_name, fn_name = TASKS[name].split(":")
    return getattr(importlib.import_module(module_name), fn_name)


def run_dir(cfg: DictConfig) -> Path:
    """The run's output folder (Hydra's ``runtime.output_dir``)."""
    return Path(cfg.paths.output_dir)


def run_task(cfg: DictConfig) -> Any:
    """Prepare the run (CPU kernels, threads, seed, config tree, run info) and call the task's
    function."""
    from lightning.pytorch import seed_everything

    from seizure_lightning.utils.cpu_isa import pin_cpu_isa
    from seizure_lightning.utils.logging import global_rank
    from seizure_lightning.utils.run_info import config_tree, save_run_info, task_overrides

    task = cfg.get("task")
    if task in (None, "???") or OmegaConf.is_missing(cfg, "task"):
        raise ValueError(
            "No task selected. Run an experiment, e.g. `python -m seizure_lightning "
            "+experiment=pretrain`; available tasks: " + ", ".join(sorted(TASKS))
        )
    fn = resolve_task(task)
    pin_cpu_isa(cfg.get("cpu_isa"))  # before any torch work: its kernels are chosen at first use
    if "trainer" in cfg:
        from seizure_lightning.engine.trainer import check_launch

        check_launch(cfg)  # before any work, and never swallowed by a sweep's fold
    out = run_dir(cfg)
    if global_rank() == 0:
        overrides = task_overrides()
        save_run_info(cfg, out, overrides)
        if cfg.get("print_config", True):
            print(config_tree(cfg))
    if cfg.get("threads"):
        import torch

        torch.set_num_threads(int(cfg.threads))
    if cfg.get("seed") is not None:
        seed_everything(int(cfg.seed), workers=True, verbose=False)
    logging.getLogger("seizure_lightning").setLevel(logging.INFO)
    one_line_per_event()
    log.info("task %s -> %s", task, out)
    return fn(cfg)
