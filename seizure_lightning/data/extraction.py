"""From a record (seizure video or contextual clip) to per-frame descriptors.

One code path for both uses: the cache (``feature_cache.build_feature_cache``, fixed crops) and the online
pre-training path (:class:`ClipFeaturizer`, any crop incl. the paper's random crop), so cached
descriptors equal online ones up to fp16 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seizure_lightning.constants import CROP, FPS, IMAGENET_MEAN, IMAGENET_STD, RESIZE_HW
from seizure_lightning.data.boxes import prepare_track
from seizure_lightning.features.frame_encoder import (
    FrameEncoder,
    FrameEncoderConfig,
    feature_dim,
    resolve_device,
    resolve_precision,
    special_descriptors,
)
from seizure_lightning.features.transforms import (
    crop_offsets,
    crop_resize,
    item_crop_offsets,
    normalize_crop,
    random_crop_offset,
    resize_frames,
)
from seizure_lightning.features.video import VideoError, iter_frames, source_timestamps

CACHE_VERSION = 1


@dataclass
class FramesConfig:
    """How frames are sampled and prepared (Hydra ``data.frames`` maps onto these fields 1:1).

    resize: (height, width) after the box crop; crop: square crop side; mean/std: per-channel
    normalisation in [0, 1] units; box_margin: fraction of the box size added on every side;
    box_smooth_frames: moving-average window (source frames) over the track; box_keep_aspect:
    grow the box to the resize aspect ratio instead of stretching it; decoder: auto|decord|pyav.
    """

    fps: float = FPS
    resize: tuple[int, int] = RESIZE_HW
    crop: int = CROP
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    box_margin: float = 0.1
    box_smooth_frames: int = 5
    box_keep_aspect: bool = False
    decoder: str = "auto"

    def __post_init__(self) -> None:
        self.resize = (int(self.resize[0]), int(self.resize[1]))
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)


@dataclass
class ExtractionConfig:
    """Everything that defines a feature cache (plus how to run the extraction)."""

    frames: FramesConfig = field(default_factory=FramesConfig)
    encoder: FrameEncoderConfig = field(default_factory=FrameEncoderConfig)
    n_crops: int = 1
    crop_mode: str = "center"
    crop_seed: int = 0
    shard_size: int = 16
    num_workers: int = 0

    def offsets(self) -> list[tuple[int, int]]:
        """The fixed crops' ``(top, left)`` (``random`` mode: the centre; items have their own)."""
        if self.crop_mode == "random":
            return crop_offsets(1, self.frames.resize, self.frames.crop)
        return crop_offsets(
            self.n_crops,
            self.frames.resize,
            self.frames.crop,
            mode=self.crop_mode,
            seed=self.crop_seed,
        )

    def item_offsets(self, item: str) -> list[tuple[int, int]]:
        """The crops cached for one item: the fixed ones, or its own random ones."""
        if self.crop_mode == "random":
            return item_crop_offsets(
                self.n_crops, self.frames.resize, self.frames.crop, seed=self.crop_seed, item=item
            )
        return self.offsets()

    def meta(self) -> dict[str, Any]:
        """The settings a cache must match to be reused (JSON-ready)."""
        f, e = self.frames, self.encoder
        return {
            "version": CACHE_VERSION,
            "encoder": {
                "arch": e.arch,
                "weights": None if e.weights is None else str(e.weights),
                "dim": feature_dim(e.arch, e.regions),
                # the key is absent for the global descriptor: earlier caches stay valid
                **({"regions": int(e.regions)} if e.regions > 1 else {}),
                # resolved ("auto" -> bf16 or fp32 by device): a cache extracted at another
                # precision is another cache, never reused for this one
                "precision": resolve_precision(e.precision, resolve_device(e.device)),
                # compiled output differs from eager within bf16 rounding: its own cache (the
                # key is absent when off, so caches made before the option stay valid)
                **({"compiled": True} if e.compile else {}),
            },
            "input": {
                "fps": float(f.fps),
                "resize": list(f.resize),
                "crop": int(f.crop),
                "mean": list(f.mean),
                "std": list(f.std),
                "box_margin": float(f.box_margin),
                "box_smooth_frames": int(f.box_smooth_frames),
                "box_keep_aspect": bool(f.box_keep_aspect),
            },
            "crops": {
                "mode": self.crop_mode,
                "n_crops": int(self.n_crops),
                "seed": int(self.crop_seed),
                "offsets": (
                    "per item, uniform (sha256 of seed and item id)"
                    if self.crop_mode == "random"
                    else [list(o) for o in self.offsets()]
                ),
            },
        }


# --------------------------------------------------------------------------- records
def item_id(record: Any) -> str:
    """``video_id`` of a seizure record, ``clip_id`` of a contextual clip."""
    rid = getattr(record, "video_id", None) or getattr(record, "clip_id", None)
    if not rid:
        raise ValueError(f"record without video_id/clip_id: {record!r}")
    return str(rid)


def item_info(record: Any) -> dict[str, Any]:
    """JSON-ready description of a record's source (stored in the cache index)."""
    path = Path(record.path)
    st = path.stat() if path.exists() else None
    boxes = getattr(record, "boxes", None)
    return {
        "subject_id": record.subject_id,
        "label": getattr(record, "label", None),
        "source": str(path),
        "source_size": st.st_size if st else None,
        "source_mtime_ns": st.st_mtime_ns if st else None,
        "start_s": record.start_s,
        "end_s": record.end_s,
        "boxes": None if boxes is None else str(boxes),
        "row": getattr(record, "row", None),
    }


def load_item_frames(record: Any, cfg: FramesConfig) -> np.ndarray:
    """Decode a record at ``cfg.fps``, crop its box track (if any), resize: uint8 [T, h, w, 3].

    Without a box track decord resizes at decode time. Raises :class:`VideoError` naming the item.
    """
    try:
        return _load(record, cfg)
    except VideoError as exc:
        raise VideoError(f"{item_id(record)} (row {getattr(record, 'row', '?')}): {exc}") from exc


def _load(record: Any, cfg: FramesConfig) -> np.ndarray:
    kw = {"fps": cfg.fps, "start_s": record.start_s, "end_s": record.end_s, "backend": cfg.decoder}
    boxes_path = getattr(record, "boxes", None)
    if boxes_path is None:
        chunks = [f for _, f in iter_frames(record.path, size=cfg.resize, **kw)]
        return resize_frames(np.concatenate(chunks), cfg.resize)
    n_source = len(source_timestamps(record.path, cfg.decoder)) - 1
    track, out = None, []
    for idx, frames in iter_frames(record.path, size=None, **kw):
        if track is None:
            height, width = frames.shape[1:3]
            aspect = cfg.resize[1] / cfg.resize[0] if cfg.box_keep_aspect else None
            track = prepare_track(
                boxes_path,
                n_source,
                width=width,
                height=height,
                margin=cfg.box_margin,
                smooth_frames=cfg.box_smooth_frames,
                aspect=aspect,
            )
        out.append(crop_resize(frames, track[np.minimum(idx, n_source - 1)], cfg.resize))
    return np.concatenate(out)


# --------------------------------------------------------------------------- featurizer
class ClipFeaturizer:
    """Decode -> crop -> normalise -> frozen encoder, for one record at a time.

    ``load_frames`` is cheap enough for DataLoader workers; ``encode`` runs the encoder (main
    process). ``crop``: ``None`` = centre, an int = that fixed crop of ``offsets``, a
    ``(top, left)`` pair, or ``"random"`` (the paper's pre-training augmentation).
    """

    def __init__(
        self,
        frames: FramesConfig | None = None,
        encoder: FrameEncoder | FrameEncoderConfig | None = None,
        *,
        offsets: list[tuple[int, int]] | None = None,
    ) -> None:
        self.cfg = frames or FramesConfig()
        self._encoder = encoder if isinstance(encoder, FrameEncoder) else None
        self._encoder_cfg = encoder if isinstance(encoder, FrameEncoderConfig) else None
        self.offsets = offsets or crop_offsets(1, self.cfg.resize, self.cfg.crop)

    @property
    def encoder(self) -> FrameEncoder:
        if self._encoder is None:
            self._encoder = FrameEncoder(self._encoder_cfg or FrameEncoderConfig())
        return self._encoder

    def load_frames(self, record: Any) -> np.ndarray:
        return load_item_frames(record, self.cfg)

    def resolve_crop(
        self, crop: int | str | tuple[int, int] | None, generator: torch.Generator | None = None
    ) -> tuple[int, int]:
        if crop is None:
            return crop_offsets(1, self.cfg.resize, self.cfg.crop)[0]
        if crop == "random":
            return random_crop_offset(self.cfg.resize, self.cfg.crop, generator)
        if isinstance(crop, int):
            return tuple(self.offsets[crop])
        return int(crop[0]), int(crop[1])

    def encode(
        self,
        frames: np.ndarray,
        crop: int | str | tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Descriptors ``[T, D]`` float32 of uint8 frames ``[T, h, w, 3]`` at one crop."""
        return torch.from_numpy(
            self.encode_crops(frames, [self.resolve_crop(crop, generator)])[:, 0]
        )

    def encode_crops(self, frames: np.ndarray, offsets: list[tuple[int, int]]) -> np.ndarray:
        """Descriptors ``[T, K, D]`` float32 of every frame at each of the K crop offsets."""
        enc = self.encoder
        k = len(offsets)
        step = max(1, enc.config.batch_size // k)
        out = np.empty((len(frames), k, enc.dim), dtype=np.float32)
        for lo in range(0, len(frames), step):
            part = frames[lo : lo + step]
            batch = torch.cat(
                [
                    normalize_crop(part, o, self.cfg.crop, self.cfg.mean, self.cfg.std)
                    for o in offsets
                ]
            )
            feats = enc.encode(batch).view(k, len(part), enc.dim)
            out[lo : lo + len(part)] = feats.permute(1, 0, 2).numpy()
        return out

    def __call__(
        self,
        record: Any,
        crop: int | str | tuple[int, int] | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return self.encode(self.load_frames(record), crop, generator)

    def special(self) -> np.ndarray:
        """``[2, D]`` float32: r(MASK) (input filled with -1.0), r(PAD) (filled with 0.0)."""
        mask, pad = special_descriptors(self.encoder, self.cfg.crop)
        return torch.stack([mask, pad]).numpy()
