"""The Hydra application: compose ``conf/config.yaml``, prepare the run, dispatch to a task."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from seizure_lightning.resolvers import register_resolvers

_CONFIG_ENV = "SEIZURE_LIGHTNING_CONFIG_DIR"


def find_config_dir() -> Path:
    """The ``conf/`` folder: ``$SEIZURE_LIGHTNING_CONFIG_DIR``, the one shipped inside an
    installed package (``seizure_lightning/conf``), or the repository's (a clone, an editable
    install: edits take effect)."""
    package = Path(__file__).resolve().parent
    candidates = [package / "conf", package.parent / "conf"]
    if os.environ.get(_CONFIG_ENV):
        candidates.insert(0, Path(os.environ[_CONFIG_ENV]))
    for path in candidates:
        if (path / "config.yaml").is_file():
            return path
    raise FileNotFoundError(
        "seizure-lightning could not find its conf/ folder (looked in "
        + ", ".join(str(p) for p in candidates)
        + f"). Install the package (`pip install .` or `pip install -e .` in a clone), "
        f"or set {_CONFIG_ENV} to a folder holding config.yaml."
    )


CONFIG_DIR = find_config_dir()
register_resolvers()


#: exit status of a run stopped by a problem in the user's data (sysexits.h EX_DATAERR)
DATA_ERROR_EXIT = 65


def _data_errors() -> tuple[type[Exception], ...]:
    """Errors that name a problem in the user's data (a manifest row, a predictions table, a
    cache made with other settings, a subject on both sides of a fold, random descriptors of a
    manifest, a LOSO sweep that gives no model for all patients)."""
    from seizure_lightning.data.base import RandomWeightsError
    from seizure_lightning.data.feature_cache import CacheMismatchError
    from seizure_lightning.data.manifest import ManifestError
    from seizure_lightning.evaluation.aggregate import PredictionsError
    from seizure_lightning.loso.all_patients import SweepError
    from seizure_lightning.loso.splits import LeakageError

    return (ManifestError, PredictionsError, CacheMismatchError, LeakageError, RandomWeightsError,
            SweepError)


@contextlib.contextmanager
def data_errors_exit() -> Iterator[None]:
    """A problem in the user's data prints its message (no traceback) and exits with
    ``DATA_ERROR_EXIT``; ``HYDRA_FULL_ERROR=1`` shows the traceback."""
    try:
        yield
    except Exception as err:
        cause = _data_error_of(err)
        if cause is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {cause}\n(HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(DATA_ERROR_EXIT) from None


def _data_error_of(err: BaseException | None) -> BaseException | None:
    """``err`` or the data error it was raised from (Hydra's ``instantiate`` wraps the errors of
    a constructor), else None."""
    while err is not None and not isinstance(err, _data_errors()):
        err = err.__cause__
    return err


class SweepDataCheck(Callback):
    """Builds a sweep's data module once before any job starts, so its checks (e.g. random
    descriptors of a manifest) end the sweep like a single run: one message, ``DATA_ERROR_EXIT``
    (Hydra turns a callback's exception into a warning and would start every job)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.utils import instantiate

        with data_errors_exit():
            instantiate(config.data, _convert_="all")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Entry point of ``seizure-lightning`` / ``python -m seizure_lightning``."""
    from seizure_lightning.tasks import run_task

    with data_errors_exit():
        return run_task(cfg)
