"""Experiment loggers (wandb by default, offline) built from the ``logger`` config group.

Privacy: clinical video is protected health information. Unless ``log_media: true``, nothing
that names a file (paths, file names) is sent: the logged config is redacted and wandb's
metadata collection (argv, program, code, git remote) is off. Subject ids are logged as they are
in the manifest: manifests should hold pseudonyms.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.utils.io import atomic_write_text
from seizure_lightning.utils.logging import get_logger, global_rank
from seizure_lightning.utils.run_info import git_sha, package_versions, task_overrides

log = get_logger(__name__)

REDACTED = "<redacted>"
_FILE_LIKE = re.compile(r"\.(csv|mp4|avi|mkv|mov|webm|ckpt|pt|pth|npy|json|ya?ml)$", re.I)
_WANDB_ID_FILE = "wandb_id.txt"


def looks_like_path(value: Any) -> bool:
    """True for strings that name a file or folder (so they are never sent to a tracker)."""
    return isinstance(value, str) and (
        "/" in value or "\\" in value or bool(_FILE_LIKE.search(value.strip()))
    )


def redact_paths(obj: Any) -> Any:
    """A copy of ``obj`` (dicts/lists/scalars) with every path-like string replaced."""
    if isinstance(obj, Mapping):
        return {k: redact_paths(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_paths(v) for v in obj]
    return REDACTED if looks_like_path(obj) else obj


def tracked_config(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """The resolved config for the dashboard: paths redacted, plus overrides, git SHA, versions."""
    container = {
        str(k): OmegaConf.to_container(cfg[k], resolve=True, throw_on_missing=False)
        if OmegaConf.is_config(cfg[k]) else cfg[k]
        for k in cfg if k not in ("hydra", "paths")
    }
    container["run"] = {
        "overrides": list(overrides or []),
        "git_sha": git_sha(),
        "versions": package_versions(),
    }
    return redact_paths(container)


def _wandb_run_id(run_dir: Path, given: str | None) -> str:
    """The wandb run id of this run dir: reused on resume, created and saved the first time."""
    path = run_dir / _WANDB_ID_FILE
    if given:
        return str(given)
    if path.is_file():
        return path.read_text().strip()
    import secrets
    import string

    alphabet = string.ascii_lowercase + string.digits
    run_id = "".join(secrets.choice(alphabet) for _ in range(8))
    atomic_write_text(path, run_id + "\n")
    return run_id


def build_loggers(cfg: DictConfig, run_dir: Path) -> list:
    """Instantiate every logger of ``cfg.logger`` (wandb gets a persistent id, privacy settings)."""
    loggers = []
    for name, node in (cfg.get("logger") or {}).items():
        if not isinstance(node, DictConfig) or "_target_" not in node:
            continue
        node = OmegaConf.to_container(node, resolve=True)
        if node["_target_"].endswith("WandbLogger"):
            loggers.append(_wandb_logger(node, run_dir))
        else:
            loggers.append(instantiate(node))
        log.info("logger %s: %s", name, node["_target_"].rsplit(".", 1)[-1])
    return loggers


def _wandb_logger(node: dict[str, Any], run_dir: Path):
    import wandb

    log_media = bool(node.pop("log_media", False))
    node["id"] = _wandb_run_id(run_dir, node.get("id"))
    node.setdefault("resume", "allow")
    if node.get("offline", True):
        os.environ.setdefault("WANDB_MODE", "offline")
    settings = {"x_disable_meta": not log_media, "disable_code": not log_media,
                "disable_git": not log_media, "save_code": log_media, "silent": True,
                "console": "wrap" if log_media else "off"}
    node["settings"] = wandb.Settings(**settings)
    logger = instantiate(node, _convert_="all")
    logger.log_media = log_media
    return logger


def log_config(loggers: list, cfg: DictConfig, overrides: list[str] | None = None) -> None:
    """Send the (redacted) resolved config to every logger."""
    if not loggers:
        return
    params = tracked_config(cfg, overrides)
    for lg in loggers:
        lg.log_hyperparams(params)


def finish_loggers(loggers: list) -> None:
    """Flush and close the loggers; ``wandb.finish()`` always runs."""
    for lg in loggers:
        try:
            lg.finalize("success")
        except Exception as exc:  # closing must not mask the result
            log.warning("could not finalize logger %s: %s", type(lg).__name__, exc)
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        wandb.finish()


def setup_loggers(cfg: DictConfig, run_dir: Path) -> list:
    """Loggers with the redacted config already logged.

    Only rank 0 owns the run dir's ``wandb_id.txt`` (other ranks never start a wandb run; with
    torchrun/SLURM all ranks start at once and would race to create the file).
    """
    if global_rank() != 0:
        cfg = _without_wandb_id_file(cfg, global_rank())
    loggers = build_loggers(cfg, run_dir)
    log_config(loggers, cfg, task_overrides())
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


def log_report_run(node: DictConfig, name: str, folder: Path, run_config: dict[str, Any], *,
                   summary: dict[str, float], images: list[Path],
                   table: Path | None = None) -> None:
    """One wandb run of a sweep's report (``node``: the ``logger.wandb`` config; group = the
    sweep, job_type = report): ``summary`` scalars, the report's images (plots of metrics and
    probabilities, no video) and ``table`` (a predictions CSV: ids and probabilities) when
    given. Nothing names a file: the manifest is redacted, wandb's metadata collection is off."""
    import pandas as pd
    import wandb

    wb = {k: OmegaConf.select(node, k, default=None, throw_on_resolution_failure=False)
          for k in ("project", "entity", "group", "offline")}
    run = wandb.init(
        project=wb["project"], entity=wb["entity"], group=wb["group"], job_type="report",
        name=name, dir=str(folder), mode="offline" if wb["offline"] is not False else "online",
        config={**run_config, "manifest": REDACTED},
        settings=wandb.Settings(x_disable_meta=True, disable_code=True, disable_git=True,
                                silent=True),
    )
    try:
        run.summary.update(summary)
        for image in images:
            if image.is_file():
                run.log({f"loso/{image.stem}": wandb.Image(str(image))})
        if table is not None:
            run.log({"loso/predictions": wandb.Table(dataframe=pd.read_csv(table, dtype=str))})
    finally:
        run.finish()
