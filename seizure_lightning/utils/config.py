"""Plain values from config nodes, and dataclass configs that refuse unknown keys."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

C = TypeVar("C")


def to_primitive(value: Any) -> Any:
    """Plain Python (dict/list/str/int/float/bool/None) from OmegaConf/numpy/tuple/Path values."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {str(k): to_primitive(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_primitive(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def config_from_dict(cls: type[C], values: Mapping[str, Any] | C | None) -> C:
    """``cls(**values)`` for a dataclass ``cls``; an instance passes through; unknown keys raise
    ``ValueError`` naming them and the known ones."""
    if isinstance(values, cls):
        return values
    values = to_primitive(dict(values or {}))
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {unknown}; known: {sorted(known)}")
    return cls(**values)


def merge_options(name: str, given: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict:
    """``defaults`` updated by ``given``; unknown keys raise ``ValueError`` naming them."""
    given = to_primitive(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {name} keys: {unknown}; known: {sorted(defaults)}")
    return {**defaults, **given}
