"""Progress that reads well on a terminal and in a log file.

``SEIZURE_LIGHTNING_PROGRESS`` picks how long work reports itself:

- ``bar``: tqdm bars (and Lightning's) that redraw in place;
- ``plain``: one log line every ``SEIZURE_LIGHTNING_PROGRESS_EVERY`` seconds (default 30) with
  done/total, rate and ETA, and no ``\\r``: for SLURM ``.out`` files, CI, ``tee`` and parallel
  jobs whose bars would interleave;
- ``off``: nothing;
- ``auto`` (default): ``bar`` when stderr is a terminal and this process is not one of several
  parallel jobs (a joblib sweep), ``plain`` otherwise.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

MODES = ("auto", "bar", "plain", "off")
ENV, ENV_EVERY = "SEIZURE_LIGHTNING_PROGRESS", "SEIZURE_LIGHTNING_PROGRESS_EVERY"


def progress_mode() -> str:
    """The resolved mode: bar, plain or off."""
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{ENV}={mode!r}: expected one of {MODES}")
    if mode != "auto":
        return mode
    return "bar" if _stderr_is_tty() and not _parallel_job() else "plain"


def progress_every() -> float:
    """Seconds between two plain progress lines."""
    try:
        return max(float(os.environ.get(ENV_EVERY, "30")), 0.0)
    except ValueError as exc:
        raise ValueError(f"{ENV_EVERY} must be a number of seconds") from exc


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _parallel_job() -> bool:
    """Inside a Hydra multirun job run by a parallel launcher (joblib: several at once)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return False
        launcher = str(HydraConfig.get().launcher.get("_target_", ""))
        return "joblib" in launcher and int(HydraConfig.get().launcher.get("n_jobs", 1) or 1) != 1
    except Exception:
        return False


def fmt_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class PlainProgress:
    """tqdm's ``update`` / ``close`` / context manager, as periodic log lines."""

    def __init__(self, total: float | None = None, desc: str = "", unit: str = "it",
                 every: float | None = None, disable: bool = False, **_: Any) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.every = progress_every() if every is None else every
        self.disable = disable
        self.n = 0.0
        self.start = self.last = time.monotonic()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if not self.disable and now - self.last >= self.every:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.start
        rate = self.n / elapsed if elapsed > 0 else float("nan")
        done = f"{self.n:,.0f}"
        if self.total:
            eta = (self.total - self.n) / rate if rate and rate > 0 else float("nan")
            done += (f"/{self.total:,.0f} {self.unit} ({100 * self.n / self.total:.0f}%), "
                     f"{rate:.1f} {self.unit}/s, ETA {fmt_seconds(eta)}")
        else:
            done += f" {self.unit}, {rate:.1f} {self.unit}/s"
        return f"{self.desc}: {done}, elapsed {fmt_seconds(elapsed)}"

    def close(self) -> None:
        if not self.disable and self.n:
            log.info("%s (done)", self.line())

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: float | None = None, desc: str = "", unit: str = "it",
             disable: bool = False, **kwargs: Any):
    """A progress counter (``update``/``close``) in the mode of :func:`progress_mode`."""
    mode = progress_mode()
    if mode == "bar":
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=disable, **kwargs)
    return PlainProgress(total=total, desc=desc, unit=unit, disable=disable or mode == "off")


def progress_iter(iterable, total: int | None = None, desc: str = "", unit: str = "it"):
    """Iterate with progress in the mode of :func:`progress_mode`."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with progress(total=total, desc=desc, unit=unit) as bar:
        for item in iterable:
            yield item
            bar.update(1)
