"""What makes a run the same run: a hash of its config (less where it runs and how it logs),
the bytes of the files it reads and the code's version. A LOSO fold skips itself when its key
matches finished predictions; a training run resumes the newest unfinished run of its key."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seizure_lightning.utils.run_info import git_sha

#: config keys that do not change a run's result (where it runs, how it logs)
VOLATILE = ("paths", "hydra", "logger", "callbacks", "print_config", "name", "tags", "ckpt_path",
            "resume_siblings", "trainer.enable_model_summary", "trainer.enable_progress_bar",
            "trainer.log_every_n_steps")
#: the checkpoint entry that records the key of the run that wrote it
RUN_KEY_ENTRY = "seizure_lightning_config_hash"


def config_hash(cfg: DictConfig, files: dict[str, str | None] | None = None,
                drop: Iterable[str] = ()) -> str:
    """16 hex digits over the config (``VOLATILE`` and ``drop``, dotted, removed), the SHA-256
    of each named input file and the code version."""
    container = without(OmegaConf.to_container(cfg, resolve=False), (*VOLATILE, *drop))
    container["_inputs"] = {
        **{name: file_digest(path) for name, path in (files or {}).items()},
        "code": code_version(),
    }
    text = json.dumps(container, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def without(container: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``container`` (a plain config dict, changed in place) less the dotted ``keys``."""
    for key in keys:
        node: Any = container
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return container


def file_digest(path: str | None) -> str | None:
    """SHA-256 of a file's bytes (None: no file named or none there)."""
    if not path or not Path(str(path)).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """The package version and, in a git checkout, the commit."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg = version("seizure-lightning")
    except PackageNotFoundError:
        pkg = "unknown"
    return f"{pkg}+{git_sha() or 'nogit'}"


def training_run_key(cfg: DictConfig) -> str:
    """The key of a training run (pre-training): its config, its manifest's and its encoder
    export's bytes, the code."""
    files: dict[str, Any] = {"manifest": cfg.get("data", {}).get("manifest")}
    model = cfg.get("model") or {}
    if model.get("init_from"):
        files["encoder_export"] = model.get("init_from")
    return config_hash(cfg, files, drop=("data.data_dir", "data.cache_dir", "pretrain.export"))
