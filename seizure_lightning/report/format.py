"""How every report writes a number, a figure with its 95% CI, and a Markdown table
(``report.md``, ``summary.md``, the demo table, the pooled sweeps, the LOSO diagnostics)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

NA = "n/a"


def fmt(value: Any, *, signed: bool = False) -> str:
    """A float with 3 decimals (``signed``: with its sign, for differences), ``n/a`` for a
    missing or undefined one (None, NaN); anything else as ``str``."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return NA
    if isinstance(value, float | np.floating):
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return str(value)


def ci_bounds(ci: Mapping[str, Any] | Sequence[Any] | None) -> tuple[Any, Any]:
    """``(low, high)`` of a CI as ``metrics.json`` (``{"low", "high"}``) or ``comparisons.json``
    (``[low, high]``) store it; ``(None, None)`` without one."""
    if not ci:
        return None, None
    if isinstance(ci, Mapping):
        return ci.get("low"), ci.get("high")
    return ci[0], ci[1]


def with_ci(value: Any, ci: Mapping[str, Any] | Sequence[Any] | None, *,
            signed: bool = False) -> str:
    """``0.750 [0.650, 0.850]``: the value and its 95% CI (``[n/a]`` without one; ``n/a`` for an
    undefined value)."""
    text = fmt(value, signed=signed)
    if text == NA:
        return NA
    low, high = ci_bounds(ci)
    if fmt(low) == NA or fmt(high) == NA:
        return f"{text} [{NA}]"
    return f"{text} [{fmt(low, signed=signed)}, {fmt(high, signed=signed)}]"


def figure_with_ci(figures: Mapping[str, Any], name: str) -> str:
    """``with_ci`` of the figure ``name`` of a ``metrics.json`` level (its ``ci`` beside it)."""
    return with_ci(figures.get(name), (figures.get("ci") or {}).get(name))


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of ``rows`` (the keys of the first row, or ``columns``), cells by
    ``fmt``; a ``|`` or a line break inside a cell is escaped."""
    columns = list(columns or (rows[0] if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = (fmt(row.get(c)).replace("|", "/").replace("\n", " ") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
