"""The subjects of a LOSO sweep, read from the seizure manifest (no list to type)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf


def _plain(data_cfg: Any) -> dict[str, Any]:
    if isinstance(data_cfg, DictConfig):
        return OmegaConf.to_container(data_cfg, resolve=True)
    return dict(data_cfg)


def sweep_subjects(data_cfg: Any) -> list[str]:
    """Every subject of ``data.manifest`` (or of the synthetic default), naturally sorted."""
    from seizure_lightning.data.base import synthetic_manifest
    from seizure_lightning.data.manifest import load_seizure_manifest
    from seizure_lightning.evaluation.folds import loso_subjects

    data = _plain(data_cfg)
    manifest = data.get("manifest") or synthetic_manifest(
        data.get("synth") or {}, data["data_dir"], "seizures"
    )
    records = load_seizure_manifest(manifest, skip_bad_rows=bool(data.get("skip_bad_rows")))
    subjects = loso_subjects(r.subject_id for r in records)
    if len(subjects) < 2:
        raise ValueError(f"LOSO needs at least 2 subjects; {manifest} has {subjects}")
    return subjects
