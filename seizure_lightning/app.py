"""The Hydra application: compose ``conf/config.yaml``, prepare the run, dispatch to a task."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
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
    cache made with other settings, a subject on both sides of a fold)."""
    from seizure_lightning.data.feature_cache import CacheMismatchError
    from seizure_lightning.data.manifest import ManifestError
    from seizure_lightning.evaluation.aggregate import PredictionsError
    from seizure_lightning.loso.splits import LeakageError

    return ManifestError, PredictionsError, CacheMismatchError, LeakageError


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Entry point of ``python -m seizure_lightning``. A problem in the user's data prints its
    message (no traceback) and exits with ``DATA_ERROR_EXIT``; ``HYDRA_FULL_ERROR=1`` shows the
    traceback."""
    from seizure_lightning.tasks import run_task

    try:
        return run_task(cfg)
    except _data_errors() as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}\n(HYDRA_FULL_ERROR=1 shows the traceback)", file=sys.stderr)
        raise SystemExit(DATA_ERROR_EXIT) from None
