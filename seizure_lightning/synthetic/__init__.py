"""Synthetic EMU benchmark: a seeded generator of seizure and contextual video (ES vs PNES).

``generate(out_dir, preset, seed, overwrite, **overrides)`` writes a dataset folder in the data
contract (``seizures.csv``, ``contextual.csv``, ``videos/``, ``boxes/``, ``meta.json``,
``README.md``); ``ensure_dataset(cache_root, preset, seed, **overrides)`` keeps one cached copy
per parameter set.
"""

from .generator import dataset_dir, ensure_dataset, generate, is_dataset
from .presets import GENERATOR_VERSION, OVERRIDE_KEYS, PRESETS, SynthConfig, resolve_config

__all__ = [
    "GENERATOR_VERSION",
    "OVERRIDE_KEYS",
    "PRESETS",
    "SynthConfig",
    "dataset_dir",
    "ensure_dataset",
    "generate",
    "is_dataset",
    "resolve_config",
]
