"""What the seizure and contextual DataModules share: where the manifest is (the user's or the
synthetic default), how its frozen-descriptor cache is built once and opened, and loaders."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from seizure_lightning.data.extraction import ExtractionConfig, FramesConfig
from seizure_lightning.data.sampling import EpochSeededSampler, ResumableDataLoader
from seizure_lightning.features.frame_encoder import FrameEncoderConfig
from seizure_lightning.utils.config import config_from_dict
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

# keys of the `backbone` config group that are not FrameEncoderConfig fields
_BACKBONE_EXTRA = ("dim", "num_workers", "allow_random_weights")


class RandomWeightsError(ValueError):
    """A user's manifest would get the descriptors of a random-weight backbone."""


def check_backbone_weights(manifest: str | None, backbone: Mapping[str, Any]) -> None:
    """Refuse a random-weight backbone (``backbone.weights: null``) on a user's manifest unless
    ``backbone.allow_random_weights`` is true: its descriptors describe nothing, and a model
    trained on them learns nothing about the videos. The synthetic default (no manifest) uses
    one on purpose (offline tests and demos)."""
    if not manifest or backbone.get("weights") is not None:
        return
    if backbone.get("allow_random_weights", False):
        return
    raise RandomWeightsError(
        f"the frame descriptors of {manifest} would come from a RANDOM-WEIGHT "
        f"{backbone.get('arch', 'backbone')} (backbone.weights=null, e.g. the default "
        "backbone=tiny). Use backbone=resnet152 (ImageNet weights; offline: "
        "backbone.weights=/path/to/resnet152.pth, docs/weights.md), or add "
        "backbone.allow_random_weights=true to run on random descriptors on purpose (tests).")


def synthetic_manifest(synth: Mapping[str, Any], data_dir: str | Path, kind: str, *,
                       generate: bool = True) -> Path:
    """The manifest (``seizures`` or ``contextual``) of the synthetic default, generated once
    (``generate=False``: only its path)."""
    from seizure_lightning.synthetic import dataset_dir, ensure_dataset

    params = {k: v for k, v in dict(synth).items() if k not in ("out", "overwrite")}
    if not generate:
        params.pop("workers", None)
        return dataset_dir(Path(data_dir), **params) / f"{kind}.csv"
    root = ensure_dataset(Path(data_dir), **params)
    return Path(root) / f"{kind}.csv"


def extraction_config(
    frames: Mapping[str, Any], backbone: Mapping[str, Any], *, n_crops: int = 1,
    crop_mode: str = "center", num_workers: int | None = None,
) -> ExtractionConfig:
    """The extraction settings from the ``frames`` and ``backbone`` config groups."""
    backbone = dict(backbone)
    workers = backbone.get("num_workers", 0) if num_workers is None else num_workers
    encoder = config_from_dict(
        FrameEncoderConfig, {k: v for k, v in backbone.items() if k not in _BACKBONE_EXTRA})
    return ExtractionConfig(
        frames=config_from_dict(FramesConfig, frames), encoder=encoder, n_crops=n_crops,
        crop_mode=crop_mode, num_workers=int(workers),
    )


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without changing the global RNG states (torch, numpy, Python)."""
    from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

    states = _collect_rng_states(include_cuda=torch.cuda.is_initialized())
    try:
        yield
    finally:
        _set_rng_states(states)


class DescriptorDataModule(pl.LightningDataModule):
    """Base of the DataModules: manifest -> records -> descriptor cache -> datasets."""

    #: which manifest of the synthetic default this module reads
    kind: str = ""

    def __init__(
        self,
        *,
        manifest: str | None = None,
        frames: Mapping[str, Any] | None = None,
        backbone: Mapping[str, Any] | None = None,
        synth: Mapping[str, Any] | None = None,
        data_dir: str = "data",
        cache_dir: str = "cache",
        window: int = 256,
        batch_size: int = 16,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        skip_bad_rows: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        # every task that extracts or reads descriptors builds its data here: a random-weight
        # backbone on a user's manifest stops before anything is read or decoded
        check_backbone_weights(manifest, backbone or {})
        self.manifest = manifest
        self.frames = dict(frames or {})
        self.backbone = dict(backbone or {})
        self.synth = dict(synth or {"preset": "tiny", "seed": 0})
        self.data_dir = Path(data_dir)
        self.cache_root = Path(cache_dir)
        self.window = int(window)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.skip_bad_rows = bool(skip_bad_rows)
        self.seed = int(seed)
        self._records: list | None = None
        self.cache = None
        self._train_loader: ResumableDataLoader | None = None
        self._resume_state: dict[str, Any] | None = None

    # ------------------------------------------------------------------ manifest & records
    def manifest_path(self) -> Path:
        """The user's manifest, or the synthetic default's (generated on first use)."""
        if self.manifest:
            return Path(self.manifest).expanduser().resolve()
        return synthetic_manifest(self.synth, self.data_dir, self.kind)

    @property
    def records(self) -> list:
        """The validated manifest records (loaded once per process)."""
        if self._records is None:
            self._records = self.load_records(self.manifest_path())
            log.info("%s manifest: %d items", self.kind, len(self._records))
        return self._records

    def load_records(self, path: Path) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ cache
    def extraction(self) -> ExtractionConfig:
        """How this module's descriptors are extracted (overridden for random crops)."""
        return extraction_config(self.frames, self.backbone)

    def build_cache(self, rank: int = 0, world_size: int = 1, progress: bool = True) -> Path:
        """Extract (or resume) this manifest's descriptor cache; returns its folder.

        The global RNG is left as it was: a run that builds the cache (and initialises a
        backbone for it) trains exactly like a rerun that finds the cache ready.
        """
        from filelock import FileLock

        from seizure_lightning.data.feature_cache import build_feature_cache, cache_key

        # one builder per cache at a time: concurrent jobs on the same cache (a SLURM array whose
        # folds start together) wait for it and reuse it instead of extracting it twice. Ranks of
        # one sharded extraction (world_size > 1) build their own shards side by side.
        extraction = self.extraction()
        self.cache_root.mkdir(parents=True, exist_ok=True)
        key = cache_key(self.records, extraction.meta())
        lock = FileLock(self.cache_root / f".{key}.lock") if world_size == 1 else None
        with lock or contextlib.nullcontext(), preserved_rng():
            return build_feature_cache(
                self.records, self.cache_root, extraction, rank=rank,
                world_size=world_size, progress=progress,
            )

    def open_cache(self):
        """The finished cache of this manifest and extraction config."""
        from seizure_lightning.data.feature_cache import FeatureCache, cache_key

        extraction = self.extraction().meta()
        path = self.cache_root / cache_key(self.records, extraction)
        self.describe_descriptors(extraction["encoder"])
        return FeatureCache.open(path, expected_meta={"extraction": extraction})

    def describe_descriptors(self, encoder: Mapping[str, Any]) -> None:
        """Log which descriptor the cache holds."""
        log.info("%s descriptors: %s, weights %s, %s extraction", self.kind, encoder["arch"],
                 encoder["weights"] or "random (backbone.weights=null)", encoder["precision"])

    def prepare_data(self) -> None:
        """Generate the synthetic default if needed and build the cache (once per node)."""
        self.build_cache()

    # ------------------------------------------------------------------ loaders
    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _fit_progress(self) -> tuple[int, int]:
        """(epoch about to run or running, batches of it this rank has finished) of the fit loop."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 0
        loop = trainer.fit_loop
        return int(loop.epoch_progress.current.processed), int(
            loop.epoch_loop.batch_progress.current.processed
        )

    def _loader(self, dataset: Dataset, *, shuffle: bool, drop_last: bool = False,
                train: bool | None = None) -> DataLoader:
        """A loader over an :class:`EpochSeededSampler` (sharded by rank under DDP).

        ``train`` (default: ``shuffle``: the training loaders are the shuffled ones): resumable
        mid-epoch (:class:`ResumableDataLoader`) and started at the fit loop's epoch, so a run
        resumed from a checkpoint sees the same samples in the same order as an uninterrupted
        one. Every loader draws its worker seeds from its own generator, never from the global
        RNG, so iterating a loader does not shift dropout's random stream.
        """
        world, rank = self._world()
        sampler = EpochSeededSampler(
            dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed,
            drop_last=drop_last,
        )
        loader = ResumableDataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            drop_last=drop_last,
            generator=torch.Generator().manual_seed(self.seed),
        )
        if shuffle if train is None else train:
            sampler.set_epoch(self._fit_progress()[0])
            loader.progress = lambda: self._fit_progress()[1]
            if self._resume_state:
                loader.load_state_dict(self._resume_state)
                self._resume_state = None
            self._train_loader = loader
        return loader

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """Where the train loader is in its epoch (saved by Lightning in every checkpoint)."""
        if self._train_loader is None:
            return {}
        state = self._train_loader.state_dict()
        return {"train_loader": state} if state else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Called on resume before any loader is built; the next train loader continues the
        checkpoint's epoch (see :class:`ResumableDataLoader`)."""
        self._resume_state = state_dict.get("train_loader")
