"""A finished descriptor cache folder written from arrays (the layout of
``seizure_lightning.data.feature_cache``: one shard, no video, no backbone)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_cache(root: Path, items: dict[str, tuple[np.ndarray, str | None]]) -> Path:
    """``items``: id -> (descriptors ``[T, n_crops, D]``, subject id). Returns ``root``."""
    arrays = [np.asarray(x, np.float16) for x, _ in items.values()]
    n_crops, dim = arrays[0].shape[1:]
    entries, offset = {}, 0
    for (iid, (_, subject)), x in zip(items.items(), arrays):
        entries[iid] = {"offset": offset, "length": len(x), "subject_id": subject, "fps": 25.0}
        offset += len(x)
    (root / "shards").mkdir(parents=True)
    np.save(root / "shards" / "shard-00000.npy", np.concatenate(arrays))
    (root / "shards" / "shard-00000.json").write_text(json.dumps({"items": entries}))
    (root / "items.json").write_text(json.dumps({"shards": [list(items)]}))
    meta = {"dim": int(dim), "extraction": {"crops": {"n_crops": int(n_crops)}}}
    (root / "meta.json").write_text(json.dumps(meta))
    np.save(root / "special.npy", np.stack([np.full(dim, 0.5), np.zeros(dim)]).astype(np.float32))
    return root
