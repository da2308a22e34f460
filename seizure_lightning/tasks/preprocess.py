"""Task ``preprocess``: extract the frozen descriptors of the selected manifest into the cache.

Resumable (finished shards are kept) and shardable: ``preprocess.rank`` / ``world_size`` pick a
subset of shards, so SLURM array tasks or nodes can extract in parallel; the last process to
finish (or any later run) sees a complete cache.
"""

from __future__ import annotations

from omegaconf import DictConfig

from seizure_lightning.engine.trainer import build_datamodule
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


def preprocess(cfg: DictConfig) -> str:
    """Build (this rank's part of) the descriptor cache of ``cfg.data``."""
    rank, world = int(cfg.preprocess.rank), int(cfg.preprocess.world_size)
    if not 0 <= rank < world:
        raise ValueError(f"preprocess.rank must be in [0, {world}), got {rank}")
    datamodule = build_datamodule(cfg)
    path = datamodule.build_cache(rank=rank, world_size=world)
    log.info("%s descriptors (rank %d/%d): %s", datamodule.kind, rank, world, path)
    print(path)
    return str(path)
