"""Checkpoints: atomic writes, RNG state, fixed metadata entries, and which one a run resumes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from seizure_lightning.utils.io import atomic_write_bytes
from seizure_lightning.utils.logging import get_logger, global_rank

log = get_logger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file beside the checkpoint, then ``os.replace``.

    Lightning's own writer goes through ``fsspec`` transactions, which stage the file in
    ``$TMPDIR``: when that is another file system than the run dir (node-local ``/tmp`` vs. a
    shared scratch on a cluster), the final ``shutil.move`` is a copy and a kill in the middle
    leaves a truncated ``last.ckpt``. Remote URLs still go through Lightning's writer.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        import io

        import torch

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getbuffer())
        os.chmod(path, 0o666 & ~_umask())  # the temp file was private (0600), as mkstemp makes it


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class RNGStateCheckpoint(pl.Callback):
    """Keeps the global RNG states (torch, CUDA, numpy, Python) in every checkpoint and restores
    them when training resumes, so dropout draws the same random numbers as in a run that was
    never interrupted. (Data randomness needs no state: it is seeded by (seed, epoch, index).)

    Restored at ``on_train_start``: after the train loader was built and iterated, right before
    the first training step. Ranks are seeded alike and draw alike, so rank 0's state is theirs.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        from lightning.fabric.utilities.seed import _collect_rng_states

        states = _collect_rng_states()
        kind, keys, pos, has_gauss, gauss = states["numpy"]
        states["numpy"] = [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)]
        return {"rng": states}  # plain types and tensors: loads with weights_only=True

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict.get("rng")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is None:
            return
        import numpy as np
        from lightning.fabric.utilities.seed import _set_rng_states

        states = dict(self._pending)
        kind, keys, pos, has_gauss, gauss = states["numpy"]
        states["numpy"] = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss)
        if not states.get("torch.cuda"):
            states.pop("torch.cuda", None)
        _set_rng_states(states)
        self._pending = None


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """``ckpt_path`` to resume from: the config's, or the newest of this run dir's
    ``checkpoints/last.ckpt`` and Lightning's SLURM ``hpc_ckpt_*.ckpt`` (saved on SIGUSR1)."""
    given = cfg.get("ckpt_path")
    if given not in (None, "last"):
        return str(given)
    found = latest_checkpoint(run_dir)
    if found is None and given == "last":
        raise FileNotFoundError(f"ckpt_path=last but {run_dir / 'checkpoints' / 'last.ckpt'} "
                                "does not exist")
    if found is not None:
        log.info("resuming from %s", found)
        return str(found)
    return None


def run_resume_checkpoint(cfg: DictConfig, run_dir: Path, run_key: str,
                          finished_marker: str = "metrics.json") -> str | None:
    """``resume_checkpoint``; when this run dir has nothing to resume, the ``last.ckpt`` of the
    newest unfinished sibling run (same parent folder) written under the same ``run_key``, so
    re-running the same command resumes it (a finished run has ``finished_marker``; a run of
    another config, manifest or code version is never resumed). ``cfg.resume_siblings=false``
    turns it off."""
    found = resume_checkpoint(cfg, run_dir)
    if found is not None or cfg.get("ckpt_path") is not None:
        return found
    if not cfg.get("resume_siblings", True) or not run_dir.parent.is_dir():
        return None
    from seizure_lightning.engine.run_key import RUN_KEY_ENTRY

    siblings = [d for d in run_dir.parent.iterdir()
                if d.is_dir() and d.resolve() != run_dir.resolve()
                and not (d / finished_marker).exists()]
    candidates = [c for d in siblings if (c := latest_checkpoint(d)) is not None]
    for ckpt in sorted(candidates, key=lambda p: p.stat().st_mtime_ns, reverse=True):
        if read_checkpoint_entry(ckpt, RUN_KEY_ENTRY) == run_key:
            log.info("resuming the unfinished run %s of the same config from %s (this run "
                     "writes to %s; resume_siblings=false starts afresh)", ckpt.parent.parent.name
                     if ckpt.parent.name == "checkpoints" else ckpt.parent.name, ckpt, run_dir)
            return str(ckpt)
    return None


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The most recent resumable checkpoint of a run dir (and leftovers of killed writes
    removed), or None."""
    ckpt_dir = run_dir / "checkpoints"
    if global_rank() == 0:
        for tmp in ckpt_dir.glob(".*.ckpt.*.tmp"):  # a write killed before its rename
            tmp.unlink(missing_ok=True)
    candidates = [p for p in (ckpt_dir / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt"))
                  if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, whose best (top-k) checkpoint is chosen among the epochs
    from ``start_epoch`` on only (``last.ckpt`` is written every epoch as before).

    With LP-FT (``model.finetune.head_warmup_epochs``) the first epochs train a linear head on a
    frozen encoder. Such a half-trained head is unsure of everything, and on 3-4 inner validation
    patients an unsure model can have the lowest cross-entropy: "best by validation loss" then
    tests the warmup's probe instead of the fine-tuned model. The warmup
    is part of the training recipe, not a candidate model.
    """

    def __init__(self, *args: Any, start_epoch: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if int(start_epoch) < 0:
            raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
        self.start_epoch = int(start_epoch)

    def _save_topk_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict) -> None:
        if trainer.current_epoch < self.start_epoch:
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)


class CheckpointMetadata(pl.Callback):
    """Adds fixed entries to every checkpoint the Trainer writes (e.g. the input settings that
    ``predict`` reads, a LOSO fold's config key)."""

    def __init__(self, entries: dict[str, Any]) -> None:
        self.entries = entries

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint.update(self.entries)


def read_checkpoint_entry(path: str | Path, key: str) -> Any:
    """One top-level entry of a checkpoint (None when absent), read without loading it all."""
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return payload.get(key)


def update_checkpoint(path: str | Path, key: str, values: dict[str, Any],
                      out: str | Path | None = None) -> Path:
    """Merge ``values`` into the dict entry ``key`` of a written checkpoint and write it atomically
    to ``out`` (default: ``path`` itself); a reader of ``out`` never sees it without them."""
    import io

    payload = torch.load(path, map_location="cpu", weights_only=True)
    payload[key] = {**(payload.get(key) or {}), **values}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path if out is None else out, buffer.getbuffer())


class StopAfterEpochs(pl.Callback):
    """Stops training after ``epochs`` epochs while ``trainer.max_epochs`` (the learning-rate
    schedule's length, ``trainer.estimated_stepping_batches``) stays as configured: the weights of
    epoch ``epochs`` of a ``max_epochs`` run, as a LOSO fold that tested that epoch had them."""

    def __init__(self, epochs: int) -> None:
        if int(epochs) < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.epochs = int(epochs)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # resumed from a checkpoint written after the last epoch: no epoch more
        trainer.should_stop = trainer.current_epoch >= self.epochs

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True
