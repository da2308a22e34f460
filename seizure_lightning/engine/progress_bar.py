"""Lightning's progress in the mode of ``utils.progress`` (``SEIZURE_LIGHTNING_PROGRESS``):
its tqdm bar on a terminal, periodic plain log lines elsewhere (SLURM, CI, parallel folds)."""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import ProgressBar

from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.progress import fmt_seconds, progress_every

log = get_logger(__name__)


class PlainProgressBar(ProgressBar):
    """One log line every ``every`` seconds of training: epoch, batch, loss, rate, ETA."""

    def __init__(self, every: float | None = None, prefix: str = "") -> None:
        super().__init__()
        self.every = progress_every() if every is None else float(every)
        self.prefix = prefix
        self._enabled = True
        self._start = self._last = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        now = time.monotonic()
        if self._enabled and trainer.is_global_zero and now - self._last >= self.every:
            self._last = now
            log.info("%s", self.line(trainer, batch_idx + 1, now))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._enabled and trainer.is_global_zero:
            log.info("%strained %d epoch(s), %d steps in %s", self.prefix,
                     trainer.current_epoch, trainer.global_step,
                     fmt_seconds(time.monotonic() - self._start))

    def line(self, trainer: pl.Trainer, batch: int, now: float) -> str:
        per_epoch = self.total_train_batches
        per_epoch = per_epoch if isinstance(per_epoch, int | float) and math.isfinite(
            per_epoch) else None
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        elapsed = now - self._start
        done = trainer.current_epoch * (per_epoch or 0) + batch
        total = per_epoch * epochs if per_epoch and epochs else None
        eta = (total - done) * elapsed / done if total and done else float("nan")
        loss = trainer.callback_metrics.get("train/loss")
        text = (f"{self.prefix}epoch {trainer.current_epoch + 1}/{epochs or '?'}, batch "
                f"{batch}/{int(per_epoch) if per_epoch else '?'}")
        if loss is not None:
            text += f", train/loss {float(loss):.4f}"
        return text + f", {done / elapsed:.2f} steps/s, ETA {fmt_seconds(eta)}"
