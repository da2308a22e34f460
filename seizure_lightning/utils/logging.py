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
