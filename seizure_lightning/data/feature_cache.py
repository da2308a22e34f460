"""Cache of frozen per-frame descriptors: fp16 shards, memory-mapped, resumable, rank-sharded.

Layout of one cache folder (one per manifest content + extraction config, see :func:`cache_key`)::

    meta.json               extraction settings (encoder, weights, input, crops) + manifest key
    items.json              the plan: item ids of every shard (deterministic)
    special.npy             [2, D] float32: r(MASK), r(PAD)
    shards/shard-00000.npy  [frames, n_crops, D] float16 (items concatenated along frames)
    shards/shard-00000.json index: item -> offset, length, fps, subject, label, source, crops ...

Every file is written atomically (temp + rename); a shard counts as done once its index JSON
exists, and it is written after the array. A killed run resumes by skipping finished shards;
stray ``*.tmp`` files are ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from seizure_lightning.data.extraction import (
    ClipFeaturizer,
    ExtractionConfig,
    item_id,
    item_info,
    load_item_frames,
)
from seizure_lightning.features.frame_encoder import FrameEncoder
from seizure_lightning.features.transforms import crop_offsets
from seizure_lightning.utils.io import atomic_save_npy, atomic_write_json
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.progress import progress

log = get_logger(__name__)


class CacheMismatchError(ValueError):
    """An existing cache was built with other settings than the ones asked for."""


class CacheIncompleteError(RuntimeError):
    """A cache folder whose extraction has not finished (missing shards)."""


# --------------------------------------------------------------------------- keys
def manifest_key(records: list) -> str:
    """Hash of the items' content: ids, paths, sizes, mtimes, spans, box files."""
    rows = []
    for rec in records:
        info = item_info(rec)
        box = info["boxes"]
        bst = Path(box).stat() if box and Path(box).exists() else None
        rows.append(
            [
                item_id(rec),
                info["source"],
                info["source_size"],
                info["source_mtime_ns"],
                info["start_s"],
                info["end_s"],
                box,
                bst and bst.st_size,
                bst and bst.st_mtime_ns,
                info["subject_id"],
                info["label"],
            ]
        )
    return _hash(rows)


def cache_key(records: list, meta: dict) -> str:
    """Folder name of the cache of ``records`` under extraction ``meta`` (16 hex chars)."""
    return _hash({"meta": meta, "manifest": manifest_key(records)})


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def meta_differences(cached: dict, expected: dict) -> list[str]:
    """``key: cached != expected`` for every key of ``expected`` that differs (dotted keys).

    Keys of ``expected`` may be given relative to the cache's ``extraction`` section.
    """
    cached_flat = _flatten(json.loads(json.dumps(cached, default=str)))
    diffs = []
    for key, want in _flatten(json.loads(json.dumps(expected, default=str))).items():
        have_key = key if key in cached_flat else f"extraction.{key}"
        have = cached_flat.get(have_key, "<missing>")
        if have != want:
            diffs.append(f"{key}: cache has {have!r}, expected {want!r}")
    return diffs


# --------------------------------------------------------------------------- reader
def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


class FeatureCache:
    """Read-only view of a finished cache folder (O(1) memory-mapped access per item)."""

    def __init__(self, root: Path, meta: dict, index: dict[str, dict], special: np.ndarray):
        self.root = root
        self.meta = meta
        self._index = index
        self._special = special
        self._arrays: dict[int, np.ndarray] = {}
        self._files: dict[int, tuple[int, int, tuple[int, ...]]] = {}

    @classmethod
    def open(cls, root: str | os.PathLike, expected_meta: dict | None = None) -> FeatureCache:
        """Open ``root``; raise :class:`CacheMismatchError` naming every differing meta key,
        :class:`CacheIncompleteError` when shards are missing."""
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.is_file():
            raise CacheIncompleteError(f"no feature cache at {root} (meta.json missing)")
        meta = json.loads(meta_path.read_text())
        if expected_meta is not None:
            diffs = meta_differences(meta, expected_meta)
            if diffs:
                raise CacheMismatchError(
                    f"feature cache {root} was built with other settings; refusing to reuse it:\n"
                    + "\n".join(f"  - {d}" for d in diffs)
                )
        plan = json.loads((root / "items.json").read_text())["shards"]
        missing = [i for i in range(len(plan)) if not _shard_done(root, i)]
        if missing or not (root / "special.npy").is_file():
            raise CacheIncompleteError(
                f"feature cache {root} is incomplete: {len(missing)} of {len(plan)} shard(s) "
                f"missing (e.g. {[_shard_name(i) for i in missing[:5]]}); run the extraction "
                "again to resume it"
            )
        index: dict[str, dict] = {}
        for i in range(len(plan)):
            shard = json.loads((root / "shards" / f"{_shard_name(i)}.json").read_text())
            for iid, entry in shard["items"].items():
                index[iid] = {**entry, "shard": i}
        special = np.load(root / "special.npy").astype(np.float32)
        return cls(root, meta, index, special)

    @property
    def ids(self) -> list[str]:
        return list(self._index)

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    @property
    def n_crops(self) -> int:
        return int(self.meta["extraction"]["crops"]["n_crops"])

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, item: str) -> bool:
        return item in self._index

    def length(self, item: str) -> int:
        return int(self._index[item]["length"])

    def info(self, item: str) -> dict[str, Any]:
        return dict(self._index[item])

    def features(self, item: str) -> np.ndarray:
        """``[T, n_crops, D]`` float16 memory-mapped view of one item."""
        entry = self._index[item]
        arr = self._arrays.get(entry["shard"])
        if arr is None:
            arr = np.load(
                self.root / "shards" / f"{_shard_name(entry['shard'])}.npy", mmap_mode="r"
            )
            self._arrays[entry["shard"]] = arr
        return arr[entry["offset"] : entry["offset"] + entry["length"]]

    def read(self, item: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start:stop]`` of one item, ``[n, n_crops, D]`` float16, read with ``pread``.

        Unlike :meth:`features` nothing stays mapped: the pages go to the kernel's page cache,
        not to this process's resident memory, so RSS stays flat however large the cache is.
        """
        entry = self._index[item]
        length = int(entry["length"])
        stop = length if stop is None else min(int(stop), length)
        start = max(0, min(int(start), stop))
        fd, data_offset, row_shape = self._shard_file(entry["shard"])
        row_bytes = int(np.prod(row_shape)) * 2
        first = int(entry["offset"]) + start
        buf = os.pread(fd, (stop - start) * row_bytes, data_offset + first * row_bytes)
        return np.frombuffer(buf, dtype=np.float16).reshape(stop - start, *row_shape)

    def close(self) -> None:
        """Close the shard files opened by :meth:`read`."""
        for fd, _, _ in self._files.values():
            os.close(fd)
        self._files = {}

    def __del__(self) -> None:
        files = getattr(self, "_files", None)
        if files:
            self.close()

    def _shard_file(self, shard: int) -> tuple[int, int, tuple[int, ...]]:
        """(open fd, byte offset of the data, shape of one frame row) of a shard's .npy file."""
        cached = self._files.get(shard)
        if cached is None:
            path = self.root / "shards" / f"{_shard_name(shard)}.npy"
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                if fortran or np.dtype(dtype) != np.float16:
                    raise ValueError(f"{path}: expected a C-order float16 array")
                offset = fh.tell()
            cached = (os.open(path, os.O_RDONLY), offset, tuple(shape[1:]))
            self._files[shard] = cached
        return cached

    @property
    def mask_descriptor(self) -> np.ndarray:
        return self._special[0]

    @property
    def pad_descriptor(self) -> np.ndarray:
        return self._special[1]

    def __getstate__(self) -> dict:  # memmaps are reopened in each worker
        state = dict(self.__dict__)
        state["_arrays"] = {}
        state["_files"] = {}  # file descriptors are reopened in each worker
        return state


def _shard_done(root: Path, i: int) -> bool:
    return (root / "shards" / f"{_shard_name(i)}.json").is_file() and (
        root / "shards" / f"{_shard_name(i)}.npy"
    ).is_file()


# --------------------------------------------------------------------------- writer
class _FramesDataset(Dataset):
    """Decodes one record per item (in a DataLoader worker: one reader per file, closed after)."""

    def __init__(self, records: list, config: ExtractionConfig) -> None:
        self.records = records
        self.frames_cfg = config.frames

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[int, np.ndarray]:
        return i, load_item_frames(self.records[i], self.frames_cfg)


def build_feature_cache(
    records: list,
    cache_dir: str | os.PathLike,
    extractor_config: ExtractionConfig,
    *,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    subdir: bool = True,
    encoder: FrameEncoder | None = None,
) -> Path:
    """Extract the descriptors of ``records`` into a cache folder (resumable); returns it.

    ``rank``/``world_size`` pick shards ``i % world_size == rank`` so several processes can
    extract in parallel into the same folder. ``subdir=True``: the folder is
    ``cache_dir/cache_key(records, meta)``. An existing folder with other settings raises
    :class:`CacheMismatchError`.
    """
    cfg = extractor_config
    ids = [item_id(r) for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) < len(ids) else []
    if dupes:
        raise ValueError(f"duplicate item ids: {dupes[:10]}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside world_size {world_size}")
    extraction = cfg.meta()
    mkey = manifest_key(records)
    root = (
        Path(cache_dir) / _hash({"meta": extraction, "manifest": mkey})
        if subdir
        else Path(cache_dir)
    )
    plan = [ids[i : i + cfg.shard_size] for i in range(0, len(ids), cfg.shard_size)]
    meta = {
        "extraction": extraction,
        "manifest_key": mkey,
        "dim": extraction["encoder"]["dim"],
        "dtype": "float16",
        "n_items": len(ids),
        "n_shards": len(plan),
        "shard_size": cfg.shard_size,
    }
    _write_or_check_meta(root, meta, plan)
    todo = [i for i in range(len(plan)) if i % world_size == rank and not _shard_done(root, i)]
    need_special = not (root / "special.npy").is_file()
    if not todo and not need_special:
        return root
    featurizer = ClipFeaturizer(
        cfg.frames, encoder or FrameEncoder(cfg.encoder), offsets=cfg.offsets()
    )
    if need_special:
        atomic_save_npy(root / "special.npy", featurizer.special())
    if todo:
        _extract_shards(root, records, plan, todo, cfg, featurizer, progress, rank)
    return root


def _write_or_check_meta(root: Path, meta: dict, plan: list[list[str]]) -> None:
    meta_path = root / "meta.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        diffs = meta_differences(old, {k: meta[k] for k in ("extraction", "manifest_key")})
        diffs += meta_differences(old, {"shard_size": meta["shard_size"]})
        if diffs:
            raise CacheMismatchError(
                f"feature cache folder {root} holds another extraction; refusing to mix:\n"
                + "\n".join(f"  - {d}" for d in diffs)
            )
        return
    runtime = {"torch": torch.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_json(root / "items.json", {"shards": plan})
    atomic_write_json(meta_path, {**meta, "runtime": runtime})


def expected_frames(records: list, fps: float) -> int | None:
    """How many frames extracting ``records`` will produce (the progress bar's total, so it has
    an ETA): from each record's span, or its video's duration where it has none."""
    from seizure_lightning.features.video import VideoError, n_target_frames, probe_video

    total = 0
    for rec in records:
        start = rec.start_s or 0.0
        try:
            end = rec.end_s if rec.end_s is not None else probe_video(rec.path).duration
        except VideoError:
            return None  # the extraction itself reports the file
        total += n_target_frames(max(end - start, 0.0), fps)
    return total


def _extract_shards(
    root: Path,
    records: list,
    plan: list[list[str]],
    todo: list[int],
    cfg: ExtractionConfig,
    featurizer: ClipFeaturizer,
    progress_on: bool,
    rank: int,
) -> None:
    by_id = {item_id(r): r for r in records}
    order = [by_id[iid] for s in todo for iid in plan[s]]
    loader = DataLoader(
        _FramesDataset(order, cfg),
        batch_size=None,
        shuffle=False,
        num_workers=cfg.num_workers,
        persistent_workers=False,
        prefetch_factor=2 if cfg.num_workers else None,
    )
    bar = progress(
        total=expected_frames(order, cfg.frames.fps),
        unit="frame",
        disable=not progress_on,
        desc=f"descriptors (rank {rank}, {len(todo)} shard(s))",
        unit_scale=True,
        dynamic_ncols=True,
    )
    pending = iter(todo)
    shard = next(pending)
    feats: list[np.ndarray] = []
    entries: dict[str, dict] = {}
    offset = 0
    for pos, frames in loader:
        rec = order[int(pos)]
        offsets = cfg.item_offsets(item_id(rec))
        out = featurizer.encode_crops(np.asarray(frames), offsets).astype(np.float16)
        entries[item_id(rec)] = {
            **item_info(rec),
            "offset": offset,
            "length": len(out),
            "fps": cfg.frames.fps,
            "crops": [list(o) for o in offsets],
        }
        feats.append(out)
        offset += len(out)
        bar.update(len(out))
        if len(entries) == len(plan[shard]):
            _write_shard(root, shard, feats, entries, featurizer.encoder.dim, cfg.n_crops)
            feats, entries, offset = [], {}, 0
            shard = next(pending, None)
    bar.close()


def _write_shard(
    root: Path,
    shard: int,
    feats: list[np.ndarray],
    entries: dict[str, dict],
    dim: int,
    n_crops: int,
) -> None:
    array = np.concatenate(feats) if feats else np.zeros((0, n_crops, dim), np.float16)
    atomic_save_npy(root / "shards" / f"{_shard_name(shard)}.npy", array)
    atomic_write_json(
        root / "shards" / f"{_shard_name(shard)}.json",
        {"shard": shard, "n_frames": len(array), "items": entries},
    )
    log.info("feature cache %s: wrote %s (%d frames)", root.name, _shard_name(shard), len(array))


__all__ = [
    "CacheIncompleteError",
    "CacheMismatchError",
    "FeatureCache",
    "build_feature_cache",
    "cache_key",
    "crop_offsets",
    "manifest_key",
]
