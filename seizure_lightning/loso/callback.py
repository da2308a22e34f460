"""Hydra callback of the LOSO sweep: prepares the data once before the folds start and, when
the sweep ends, has ``report/`` write one report per model, the paired comparisons of
``loso.compare`` and the sweep's summary (``report.sweep``); it only orchestrates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.evaluation.comparisons import compare_pairs
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.naming import natural_key

log = get_logger(__name__)

#: the report images of a model's folder, logged to its wandb summary run
MODEL_IMAGES = ("confusion_matrix.png", "roc_pr.png", "subject_accuracy.png", "timelines.png")


class LosoSweepCallback(Callback):
    """``on_multirun_start``: synthetic data + descriptor cache built once (folds may run in
    parallel); ``on_multirun_end``: ``<sweep>/<model>/predictions.csv`` + report, a
    ``<sweep>/summary.md`` and ``summary.png`` comparing the models of the sweep, and
    ``<sweep>/comparisons.json`` (paired patient-bootstrap differences of ``loso.compare``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.utils import instantiate

        compare_pairs(config.loso.get("compare"))  # a malformed pair fails before any training
        datamodule = instantiate(config.data, _convert_="all")
        datamodule.prepare_data()
        log.info("LOSO data ready: %d videos", len(datamodule.records))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from seizure_lightning.report.sweep import (
            incomplete_folds,
            write_comparisons,
            write_sweep_summary,
        )

        if not config.loso.get("report", True):
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        n_boot, seed = int(config.loso.n_boot), int(config.seed)
        rows = []
        for model_dir in model_dirs(sweep_dir):
            try:
                rows.append({"model": model_dir.name,
                             "metrics": self._report(config, model_dir, n_boot, seed)})
            except Exception as exc:  # one model's report must not hide the others
                log.error("no report for %s: %s", model_dir.name, exc)
        comparisons = None
        try:
            comparisons = write_comparisons(
                sweep_dir, compare_pairs(config.loso.get("compare")), [r["model"] for r in rows],
                n_boot=n_boot, seed=seed)
        except Exception as exc:  # the comparisons must not cost the summary
            log.error("no paired comparisons: %s", exc)
        if rows:
            print(write_sweep_summary(sweep_dir, rows, comparisons))
            try:
                _log_report_run(config, "sweep-summary", sweep_dir,
                                {"models": [r["model"] for r in rows]}, images=("summary.png",))
            except Exception as exc:  # the tracker must not cost the sweep's verdict below
                log.error("summary.png not logged: %s", exc)
        incomplete = incomplete_folds(rows)
        if incomplete:  # a partial paper table must not look like a finished one
            raise RuntimeError(
                "LOSO sweep incomplete: " + "; ".join(
                    f"{m}: fold(s) {', '.join(f)} failed or missing" for m, f in incomplete.items())
                + f". The reports and {sweep_dir / 'summary.md'} say so; re-run the same command "
                "to run the missing folds (finished ones are skipped).")

    def _report(self, config: DictConfig, model_dir: Path, n_boot: int,
                seed: int) -> dict[str, Any]:
        from seizure_lightning.report.sweep import write_model_report

        metrics = write_model_report(
            model_dir, n_boot=n_boot, seed=seed,
            run={"allow_pretrain_overlap": bool(config.loso.allow_pretrain_overlap),
                 "decision": str(config.loso.get("decision", "argmax"))},
            deviations=model_deviations(model_dir))
        video = metrics["video"]
        _log_report_run(config, f"summary-{model_dir.name}", model_dir, {"model": model_dir.name},
                        images=MODEL_IMAGES, predictions=True,
                        summary={f"loso/{k}": v for k, v in video.items()
                                 if isinstance(v, int | float) and v is not None})
        return metrics


def _log_report_run(config: DictConfig, name: str, folder: Path, run_config: dict[str, Any], *,
                    images: tuple[str, ...], summary: dict[str, float] | None = None,
                    predictions: bool = False) -> None:
    """A wandb report run (``engine.loggers.log_report_run``) when the sweep logs to wandb."""
    node = (config.get("logger") or {}).get("wandb")
    if node is None or "_target_" not in node:
        return
    from seizure_lightning.engine.loggers import log_report_run

    log_report_run(node, name, folder, run_config, summary=summary or {},
                   images=[folder / i for i in images],
                   table=folder / "predictions.csv" if predictions else None)


def model_deviations(model_dir: Path) -> list[str]:
    """How this model's folds differ from the paper's method (its first fold's saved config and
    the encoder export it started from; loso/deviations.py)."""
    from seizure_lightning.loso.deviations import paper_deviations

    configs = sorted(model_dir.glob("fold=*/.hydra/config.yaml"),
                     key=lambda p: natural_key(p.parent.parent.name))
    if not configs:
        return []
    cfg = OmegaConf.load(configs[0])
    init = OmegaConf.select(cfg, "model.init_from", default=None,
                            throw_on_resolution_failure=False)
    recipe = None
    if init and Path(str(init)).is_file():
        try:
            payload = torch.load(str(init), map_location="cpu", weights_only=True, mmap=True)
            recipe = payload.get("recipe") if isinstance(payload, dict) else None
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("could not read the pre-training recipe of %s: %s", init, exc)
    out = paper_deviations(cfg, recipe)
    if init and recipe is None:
        out.append("pre-training recipe not recorded in the encoder export (an older export)")
    return out


def model_dirs(sweep_dir: Path) -> list[Path]:
    """Sub-folders of the sweep that hold ``fold=*`` folders (one per model)."""
    found = {p.parent for p in sweep_dir.glob("*/fold=*") if p.is_dir()}
    return sorted(found)
