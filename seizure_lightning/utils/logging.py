"""Rank-zero aware logging: messages from non-zero ranks are dropped unless asked for."""

from __future__ import annotations

import logging
import os

from lightning.pytorch.utilities import rank_zero_only

_RANK_ENV = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """The process's global rank from the launcher's environment (0 when not distributed)."""
    for key in _RANK_ENV:
        if key in os.environ:
            try:
                return int(os.environ[key])
            except ValueError:
                continue
    return getattr(rank_zero_only, "rank", 0) or 0


class RankZeroLogger(logging.LoggerAdapter):
    """A ``LoggerAdapter`` that logs on rank zero only (``rank_zero_only=False`` to log everywhere)."""

    def log(self, level: int, msg: object, *args: object, rank_zero_only: bool = True, **kwargs):
        if rank_zero_only and global_rank() != 0:
            return
        if self.isEnabledFor(level):
            msg, kwargs = self.process(msg, kwargs)
            self.logger.log(level, msg, *args, **kwargs)


def get_logger(name: str) -> RankZeroLogger:
    """A rank-zero logger for module ``name``."""
    return RankZeroLogger(logging.getLogger(name), {})


class _DropAdverts(logging.Filter):
    """Drops Lightning's product tips (one per Trainer: dozens of identical lines per sweep)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.getMessage())


def one_line_per_event() -> None:
    """Each log event once, through the handlers the app configured (Hydra's console and
    ``app.log``): Lightning's own stream handler (added when it is imported, before Hydra sets
    up logging) is removed so its lines are not printed twice, its product tips are dropped, and
    a third-party deprecation repeated at every step (not the user's to act on) is not shown."""
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                logger.removeHandler(handler)
        logger.propagate = True
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropAdverts) for f in handler.filters):
            handler.addFilter(_DropAdverts())
    # torch's pytree deprecation inside Lightning, once per step and process: not the user's
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # skipped manifest rows are logged (once, with every row); the same text as a Python
    # warning would print it a second time. Library callers still get the ManifestWarning.
    warnings.filterwarnings("ignore", message=r"manifest .*: skipping \d+ bad row")
