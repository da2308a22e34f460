"""The Hydra application: compose ``conf/config.yaml``, prepare the run, dispatch to a task."""

from __future__ import annotations

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from seizure_lightning.resolvers import register_resolvers

_CONFIG_ENV = "SEIZURE_LIGHTNING_CONFIG_DIR"


def find_config_dir() -> Path:
    """The ``conf/`` folder: ``$SEIZURE_LIGHTNING_CONFIG_DIR`` or the one beside the package."""
    candidates = []
    if os.environ.get(_CONFIG_ENV):
        candidates.append(Path(os.environ[_CONFIG_ENV]))
    candidates.append(Path(__file__).resolve().parent.parent / "conf")
    for path in candidates:
        if (path / "config.yaml").is_file():
            return path
    raise FileNotFoundError(
        "seizure-lightning could not find its conf/ folder (looked in "
        + ", ".join(str(p) for p in candidates)
        + f"). Install the project with `pip install -e .` from a clone, or set {_CONFIG_ENV}."
    )


CONFIG_DIR = find_config_dir()
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Entry point of ``python -m seizure_lightning``."""
    from seizure_lightning.tasks import run_task

    return run_task(cfg)
