"""The subjects of a LOSO sweep, read from the seizure manifest (no list to type).

Read at sweep time (the sweeper expands ``data.test_subject`` after the sweep callback's
``on_multirun_start`` has generated the synthetic default and checked the manifest), from the
manifest's ``subject_id`` column alone: listing the folds decodes no video and generates nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.data.base import synthetic_manifest
from seizure_lightning.loso.splits import loso_subjects


def _plain(data_cfg: Any) -> dict[str, Any]:
    if isinstance(data_cfg, DictConfig):
        return OmegaConf.to_container(data_cfg, resolve=True)
    return dict(data_cfg)


def sweep_subjects(data_cfg: Any) -> list[str]:
    """Every subject of ``data.manifest`` (or of the synthetic default), naturally sorted."""
    data = _plain(data_cfg)
    manifest = Path(data.get("manifest") or synthetic_manifest(
        data.get("synth") or {}, data["data_dir"], "seizures", generate=False))
    if not manifest.is_file():
        raise FileNotFoundError(
            f"seizure manifest not found: {manifest} (the synthetic default is generated when "
            "a LOSO sweep starts, or by +experiment=synthesize)")
    frame = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    if "subject_id" not in frame.columns:
        raise ValueError(f"{manifest}: no subject_id column")
    subjects = loso_subjects(frame.subject_id)
    if len(subjects) < 2:
        raise ValueError(f"LOSO needs at least 2 subjects; {manifest} has {subjects}")
    return subjects
