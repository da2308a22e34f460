"""Task ``synthesize``: write the synthetic EMU benchmark (the embedded default dataset)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

_CONTROL_KEYS = ("preset", "seed", "out", "overwrite")


def synthesize(cfg: DictConfig) -> str:
    """Generate ``synth.preset`` into ``synth.out`` (default: the shared data cache)."""
    from seizure_lightning.synthetic import ensure_dataset, generate

    synth = OmegaConf.to_container(cfg.synth, resolve=True)
    overrides = {k: v for k, v in synth.items() if k not in _CONTROL_KEYS and v is not None}
    if synth.get("out"):
        root = generate(Path(synth["out"]), preset=synth["preset"], seed=int(synth["seed"]),
                        overwrite=bool(synth.get("overwrite")), **overrides)
    else:
        root = ensure_dataset(Path(cfg.paths.data_dir), preset=synth["preset"],
                              seed=int(synth["seed"]), **overrides)
    log.info("synthetic dataset (%s, seed %s): %s", synth["preset"], synth["seed"], root)
    print(root)
    return str(root)
