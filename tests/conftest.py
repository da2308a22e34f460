"""Shared fixtures: Hydra-composed configs with every output under tmp_path, the tiny
synthetic dataset (generated once per session), and a CLI runner."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict, read_write

from seizure_lightning.app import CONFIG_DIR

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]

# Skip helpers in the spirit of lightning-hydra-template's RunIf.
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
requires_decord = pytest.mark.skipif(
    importlib.util.find_spec("decord") is None, reason="decord is not installed"
)

# Small, fast settings every pipeline test starts from.
TINY_OVERRIDES: tuple[str, ...] = (
    "synth=tiny",
    "backbone=tiny",
    "frames=tiny",
    "model=tiny",
    "logger=csv",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "print_config=false",
)


def compose_config(
    tmp_path: Path, overrides: Sequence[str] = (), *, shared_root: Path | None = None
) -> DictConfig:
    """Compose ``config.yaml`` like the CLI would, with every path under ``tmp_path``.

    ``shared_root`` (default ``tmp_path``) holds the data and feature caches so several tests
    can reuse one generated dataset.
    """
    GlobalHydra.instance().clear()
    root = shared_root or tmp_path
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[
                f"paths.root_dir={root}",
                f"paths.log_dir={tmp_path}/logs",
                *overrides,
            ],
            return_hydra_config=True,
        )
        with open_dict(cfg), read_write(cfg):
            cfg.hydra.runtime.output_dir = str(tmp_path / "run")
            cfg.hydra.runtime.cwd = str(tmp_path)
            cfg.hydra.job.num = 0
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path / "run")
    return cfg


@pytest.fixture
def cfg_factory(tmp_path: Path) -> Callable[..., DictConfig]:
    """``cfg_factory("+experiment=pretrain", ...)`` -> a composed config writing to tmp_path."""

    def factory(*overrides: str, tiny: bool = True, shared_root: Path | None = None) -> DictConfig:
        base = TINY_OVERRIDES if tiny else ()
        return compose_config(tmp_path, [*overrides, *base], shared_root=shared_root)

    yield factory
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide root for generated data and feature caches (reused across tests)."""
    return tmp_path_factory.mktemp("shared_root")


@pytest.fixture(scope="session")
def tiny_dataset(shared_root: Path) -> Path:
    """The ``tiny`` synthetic EMU dataset, generated once per test session."""
    from seizure_lightning.synthetic import ensure_dataset

    return ensure_dataset(shared_root / "data", preset="tiny", seed=0)


def run_cli(
    args: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python -m seizure_lightning ARGS`` in ``cwd``; the result carries stdout/stderr."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "seizure_lightning", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
