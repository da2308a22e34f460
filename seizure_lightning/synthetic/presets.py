"""Parameters of the synthetic EMU benchmark: the ``SynthConfig`` dataclass and its presets.

Every size is overridable; ``resolve_config`` merges a preset with overrides and validates the
result, raising ``ValueError`` that names the offending parameter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

GENERATOR_VERSION = "1.0.0"


@dataclass(frozen=True)
class SynthConfig:
    """Resolved generator parameters (sizes in counts, durations in seconds)."""

    subjects_es: int = 2
    subjects_pnes: int = 2
    seizures_es: int = 4
    seizures_pnes: int = 4
    seizure_seconds: tuple[float, float] = (8.0, 10.0)
    contextual_recordings: int = 3
    contextual_seconds: tuple[float, float] = (12.0, 20.0)
    contextual_subjects: int = 0
    fps_choices: tuple[str, ...] = ("25", "30", "30000/1001")
    resolutions: tuple[tuple[int, int], ...] = ((160, 120), (128, 96))
    embedded_fraction: float = 0.25
    embed_context_seconds: tuple[float, float] = (2.0, 4.0)
    night_prob: float = 0.2
    blanket_prob: float = 0.25
    visitor_prob: float = 0.25
    flicker_prob: float = 0.3
    noise_std: tuple[float, float] = (2.0, 6.0)
    crf: int = 23
    # share of contextual video time with rhythmic everyday movement (scratching, tapping,
    # gesturing, chewing, rocking: motion.RHYTHMS); 0 = the generator before it had them
    contextual_rhythm: float = 0.0
    # False: no rhythmic bouts while the contextual patient sleeps (only awake activities)
    contextual_rhythm_in_sleep: bool = True
    # share of each class's seizures that take the other class's envelope (amplitude course,
    # pauses, onset and end, rate course), so that only the movement's organisation (synchrony
    # across the limbs, regularity of the rhythm) tells the class; 0 = the generator before it
    envelope_swap: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @property
    def fps_fractions(self) -> tuple[Fraction, ...]:
        """``fps_choices`` as exact fractions."""
        return tuple(Fraction(s) for s in self.fps_choices)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(),
    "demo": SynthConfig(
        subjects_es=8,
        subjects_pnes=4,
        seizures_es=32,
        seizures_pnes=10,
        seizure_seconds=(8.0, 24.0),
        contextual_recordings=16,
        contextual_seconds=(30.0, 70.0),
        contextual_subjects=6,
        resolutions=((320, 240), (256, 192), (384, 216)),
        embed_context_seconds=(3.0, 8.0),
        contextual_rhythm=0.4,
    ),
    # the learning benchmark (make loso-bench): enough patients, balanced, that a LOSO sweep's
    # patient-bootstrap CIs separate a good model from chance, small enough for 2 CPU cores
    "bench": SynthConfig(
        subjects_es=12,
        subjects_pnes=12,
        seizures_es=24,
        seizures_pnes=24,
        seizure_seconds=(10.0, 16.0),
        # three times the seizure video, from 12 seizure-free patients (the paper has about ten
        # times; 16 recordings of 6 patients left pre-training at 55 clips)
        contextual_recordings=48,
        contextual_seconds=(30.0, 60.0),
        contextual_subjects=12,
        resolutions=((320, 240), (256, 192), (384, 216)),
        embed_context_seconds=(3.0, 8.0),
        contextual_rhythm=0.4,
    ),
    "paper": SynthConfig(
        subjects_es=52,
        subjects_pnes=29,
        seizures_es=235,
        seizures_pnes=48,
        seizure_seconds=(7.5, 150.0),
        contextual_recordings=1870,
        contextual_seconds=(30.0, 120.0),
        resolutions=((320, 240), (256, 192), (384, 216)),
        embed_context_seconds=(5.0, 15.0),
        contextual_rhythm=0.4,
    ),
}

OVERRIDE_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SynthConfig))


def _as_int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"synth parameter {name!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"synth parameter {name!r} must be >= {minimum}, got {value!r}")
    return int(value)


def _as_prob(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"synth parameter {name!r} must be a number in [0, 1], got {value!r}")
    return float(value)


def _as_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"synth parameter {name!r} must be true or false, got {value!r}")
    return value


def _as_range(name: str, value: Any, minimum: float) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"synth parameter {name!r} must be a [min, max] pair, got {value!r}")
    lo, hi = value
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"synth parameter {name!r} must hold numbers, got {value!r}")
    if lo < minimum or hi < lo:
        raise ValueError(
            f"synth parameter {name!r} must satisfy {minimum} <= min <= max, got {list(value)!r}"
        )
    return (float(lo), float(hi))


def _as_fps(value: Any) -> tuple[str, ...]:
    name = "fps_choices"
    if isinstance(value, str | int | float) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"synth parameter {name!r} must be a non-empty list, got {value!r}")
    out = []
    for v in value:
        try:
            if isinstance(v, bool):
                raise TypeError
            frac = Fraction(str(v)) if not isinstance(v, int) else Fraction(v)
        except (TypeError, ValueError, ZeroDivisionError):
            raise ValueError(
                f"synth parameter {name!r}: {v!r} is not a frame rate (e.g. 25, 30, '30000/1001')"
            ) from None
        if not 5 <= frac <= 120:
            raise ValueError(f"synth parameter {name!r}: {v!r} is outside 5..120 fps")
        out.append(str(frac))
    return tuple(out)


def _as_resolutions(value: Any) -> tuple[tuple[int, int], ...]:
    name = "resolutions"
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"synth parameter {name!r} must be a non-empty list of [width, height]")
    out = []
    for wh in value:
        if isinstance(wh, str) or not isinstance(wh, Sequence) or len(wh) != 2:
            raise ValueError(f"synth parameter {name!r}: {wh!r} is not a [width, height] pair")
        w, h = (_as_int(name, v, 48) for v in wh)
        if w % 2 or h % 2:
            raise ValueError(f"synth parameter {name!r}: {w}x{h} must have even sides (H.264)")
        if w > 4096 or h > 4096:
            raise ValueError(f"synth parameter {name!r}: {w}x{h} is too large")
        out.append((w, h))
    return tuple(out)


def validate(cfg: SynthConfig) -> SynthConfig:
    """Normalise and check every field; return a clean config or raise ``ValueError``."""
    vals = {
        "subjects_es": _as_int("subjects_es", cfg.subjects_es),
        "subjects_pnes": _as_int("subjects_pnes", cfg.subjects_pnes),
        "seizures_es": _as_int("seizures_es", cfg.seizures_es),
        "seizures_pnes": _as_int("seizures_pnes", cfg.seizures_pnes),
        "seizure_seconds": _as_range("seizure_seconds", cfg.seizure_seconds, 2.0),
        "contextual_recordings": _as_int("contextual_recordings", cfg.contextual_recordings),
        "contextual_seconds": _as_range("contextual_seconds", cfg.contextual_seconds, 1.0),
        "contextual_subjects": _as_int("contextual_subjects", cfg.contextual_subjects),
        "fps_choices": _as_fps(cfg.fps_choices),
        "resolutions": _as_resolutions(cfg.resolutions),
        "embedded_fraction": _as_prob("embedded_fraction", cfg.embedded_fraction),
        "embed_context_seconds": _as_range("embed_context_seconds", cfg.embed_context_seconds, 0.5),
        "night_prob": _as_prob("night_prob", cfg.night_prob),
        "blanket_prob": _as_prob("blanket_prob", cfg.blanket_prob),
        "visitor_prob": _as_prob("visitor_prob", cfg.visitor_prob),
        "flicker_prob": _as_prob("flicker_prob", cfg.flicker_prob),
        "noise_std": _as_range("noise_std", cfg.noise_std, 0.0),
        "crf": _as_int("crf", cfg.crf),
        "contextual_rhythm": _as_prob("contextual_rhythm", cfg.contextual_rhythm),
        "contextual_rhythm_in_sleep": _as_bool(
            "contextual_rhythm_in_sleep", cfg.contextual_rhythm_in_sleep),
        "envelope_swap": _as_prob("envelope_swap", cfg.envelope_swap),
    }
    if vals["crf"] > 51:
        raise ValueError(f"synth parameter 'crf' must be in 0..51, got {vals['crf']}")
    if vals["subjects_es"] + vals["subjects_pnes"] == 0:
        raise ValueError("synth parameters 'subjects_es' + 'subjects_pnes' must be >= 1")
    for cls in ("es", "pnes"):
        n_sub, n_sz = vals[f"subjects_{cls}"], vals[f"seizures_{cls}"]
        if n_sz < n_sub:
            raise ValueError(
                f"synth parameter 'seizures_{cls}' ({n_sz}) must be >= 'subjects_{cls}' ({n_sub}):"
                " every subject has at least one seizure"
            )
        if n_sub == 0 and n_sz > 0:
            raise ValueError(
                f"synth parameter 'seizures_{cls}' must be 0 when 'subjects_{cls}' is 0"
            )
    return SynthConfig(**vals)


def resolve_config(preset: str | SynthConfig = "tiny", **overrides: Any) -> SynthConfig:
    """Preset + overrides -> validated ``SynthConfig``. ``None`` overrides keep the preset value."""
    if isinstance(preset, SynthConfig):
        base = preset
    elif isinstance(preset, str) and preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(
            f"synth parameter 'preset' must be one of {sorted(PRESETS)}, got {preset!r}"
        )
    unknown = sorted(set(overrides) - set(OVERRIDE_KEYS))
    if unknown:
        raise ValueError(
            f"unknown synth parameter(s) {unknown}; valid ones: {', '.join(OVERRIDE_KEYS)}"
        )
    given = {k: _plain(v) for k, v in overrides.items() if v is not None}
    return validate(dataclasses.replace(base, **given))


def _plain(value: Any) -> Any:
    """OmegaConf ListConfig / nested sequences -> plain lists (strings stay strings)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        return value
    return [_plain(v) for v in value]


def params_hash(cfg: SynthConfig, seed: int) -> str:
    """Hash of the resolved parameters, the seed and the generator version."""
    params = cfg.to_dict()
    # datasets made before a parameter existed keep their hash while it has its old value
    for key, old in (("contextual_rhythm", 0.0), ("contextual_rhythm_in_sleep", True),
                     ("envelope_swap", 0.0)):
        if params[key] == old:
            del params[key]
    payload = {"params": params, "seed": int(seed), "version": GENERATOR_VERSION}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
