"""Hydra callback of the LOSO sweep: prepares the data once before the folds start, and
gathers every fold's predictions into one report per model when the sweep ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.utils.io import atomic_write_text
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

SUMMARY_FIGURES = ("accuracy", "balanced_accuracy", "f1_es", "f1_pnes", "f1_macro", "mcc", "auroc")


class LosoSweepCallback(Callback):
    """``on_multirun_start``: synthetic data + descriptor cache built once (folds may run in
    parallel); ``on_multirun_end``: ``<sweep>/<model>/predictions.csv`` + report, and a
    ``<sweep>/summary.md`` comparing the models of the sweep."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.utils import instantiate

        datamodule = instantiate(config.data, _convert_="all")
        datamodule.prepare_data()
        log.info("LOSO data ready: %d videos", len(datamodule.records))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.loso.get("report", True):
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = []
        for model_dir in model_dirs(sweep_dir):
            try:
                rows.append(self._report(config, model_dir))
            except Exception as exc:  # one model's report must not hide the others
                log.error("no report for %s: %s", model_dir.name, exc)
        if rows:
            text = summary_markdown(rows, sweep_dir)
            atomic_write_text(sweep_dir / "summary.md", text)
            print(text)

    def _report(self, config: DictConfig, model_dir: Path) -> dict[str, Any]:
        from seizure_lightning.report import write_sweep_report

        metrics = write_sweep_report(
            model_dir, n_boot=int(config.loso.n_boot), seed=int(config.seed),
            title=f"ES vs PNES, LOSO: {model_dir.name}",
            extra={"model": model_dir.name,
                   "allow_pretrain_overlap": bool(config.loso.allow_pretrain_overlap),
                   "decision": str(config.loso.get("decision", "argmax")),
                   "fold_thresholds": fold_thresholds(model_dir)},
        )
        log_summary_run(config, model_dir, metrics)
        return {"model": model_dir.name, "metrics": metrics}


def fold_thresholds(model_dir: Path) -> dict[str, float]:
    """The p_PNES decision threshold each finished fold used (from its ``summary.json``)."""
    out = {}
    for path in sorted(model_dir.glob("fold=*/summary.json")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if summary.get("threshold") is not None:
            out[str(summary.get("fold") or path.parent.name[5:])] = round(
                float(summary["threshold"]), 4)
    return out


def model_dirs(sweep_dir: Path) -> list[Path]:
    """Sub-folders of the sweep that hold ``fold=*`` folders (one per model)."""
    found = {p.parent for p in sweep_dir.glob("*/fold=*") if p.is_dir()}
    return sorted(found)


def summary_markdown(rows: list[dict[str, Any]], sweep_dir: Path) -> str:
    """One table: each model's video-level figures and the majority-class row."""
    table = []
    for row in rows:
        video = row["metrics"]["video"]
        table.append({"model": row["model"], **{k: video.get(k) for k in SUMMARY_FIGURES}})
    base = rows[0]["metrics"]["majority_baseline"]["video"]
    table.append({"model": "majority class", **{k: base.get(k) for k in SUMMARY_FIGURES}})
    frame = pd.DataFrame(table)
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    body = "".join(
        "| " + " | ".join(_fmt(v) for v in rec) + " |\n" for rec in frame.itertuples(index=False)
    )
    links = "".join(f"- {r['model']}: `{r['model']}/report.md`\n" for r in rows)
    return (f"# LOSO sweep summary\n\nSweep: `{sweep_dir.name}`; video-level figures "
            f"(f1_es = the paper's F1, ES positive).\n\n{header}{body}\nReports:\n{links}")


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("n/a" if value is None else str(value))


def log_summary_run(config: DictConfig, model_dir: Path, metrics: dict[str, Any]) -> None:
    """One wandb summary run per model (group = the sweep, job_type = report)."""
    node = (config.get("logger") or {}).get("wandb")
    if node is None or "_target_" not in node:
        return
    import wandb

    from seizure_lightning.engine.loggers import REDACTED

    wb = {k: OmegaConf.select(node, k, default=None, throw_on_resolution_failure=False)
          for k in ("project", "entity", "group", "offline")}
    offline = wb["offline"] is not False
    run = wandb.init(
        project=wb.get("project"), entity=wb.get("entity"), group=wb.get("group"),
        job_type="report", name=f"summary-{model_dir.name}", dir=str(model_dir),
        mode="offline" if offline else "online",
        config={"model": model_dir.name, "manifest": REDACTED},
        settings=wandb.Settings(x_disable_meta=True, disable_code=True, disable_git=True,
                                silent=True),
    )
    try:
        video = metrics["video"]
        run.summary.update({f"loso/{k}": v for k, v in video.items()
                            if isinstance(v, int | float) and v is not None})
        for name in ("confusion_matrix.png", "roc_pr.png", "subject_accuracy.png", "timelines.png"):
            if (model_dir / name).is_file():
                run.log({f"loso/{Path(name).stem}": wandb.Image(str(model_dir / name))})
        preds = pd.read_csv(model_dir / "predictions.csv", dtype=str)
        run.log({"loso/predictions": wandb.Table(dataframe=preds)})
    finally:
        run.finish()
