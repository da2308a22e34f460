"""Orders of names as a person reads them: subject ``S2`` before ``S10``."""

from __future__ import annotations

import re
from collections.abc import Iterable


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers numerically: ``S2 < S10``."""
    parts = re.split(r"(\d+)", str(text))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p != "")


def natural_sorted(items: Iterable[str]) -> list[str]:
    """``sorted`` with :func:`natural_key` (ties broken by the plain string)."""
    return sorted(items, key=lambda s: (natural_key(s), str(s)))
