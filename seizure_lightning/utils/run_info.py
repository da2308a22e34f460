"""What a run records about itself: config tree, overrides, git SHA, package versions."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seizure_lightning.utils.io import atomic_write_json, atomic_write_text

_PACKAGES = (
    "seizure-lightning", "torch", "torchvision", "lightning", "hydra-core", "omegaconf",
    "transformers", "torchmetrics", "decord", "av", "wandb", "numpy", "pandas",
)
_TREE_ORDER = ("task", "data", "model", "trainer", "callbacks", "logger", "paths", "seed")


def git_sha(repo_dir: Path | None = None) -> str | None:
    """The HEAD commit of the source checkout (``-dirty`` appended when modified), or None."""
    repo_dir = repo_dir or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True,
            timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_dir,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def package_versions(names: Sequence[str] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the stack's packages."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def config_tree(cfg: DictConfig, resolve: bool = True) -> str:
    """The config as a rich tree (top-level groups in a fixed order), rendered to text; Hydra's
    own ``hydra`` node, if present, is left out (it is saved in ``.hydra/hydra.yaml``)."""
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("CONFIG", guide_style="dim")
    keys = [k for k in _TREE_ORDER if k in cfg]
    keys += [k for k in cfg if k not in _TREE_ORDER and k != "hydra"]
    for key in keys:
        branch = tree.add(str(key), guide_style="dim")
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=resolve) if isinstance(node, DictConfig) else str(node)
        branch.add(Syntax(text, "yaml"))
    console = Console(width=110, record=True, force_terminal=False)
    with console.capture():
        console.print(tree)
    return console.export_text()


def save_run_info(cfg: DictConfig, run_dir: Path, overrides: Sequence[str]) -> dict:
    """Write ``config_tree.log`` and ``run_info.json`` (overrides, git SHA, versions) to ``run_dir``."""
    info = {
        "task": cfg.get("task"),
        "overrides": list(overrides),
        "git_sha": git_sha(),
        "versions": package_versions(),
        "argv": sys.argv,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "run_info.json", info)
    atomic_write_text(run_dir / "config_tree.log", config_tree(cfg))
    return info


def task_overrides() -> list[str]:
    """The command line's task overrides (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
