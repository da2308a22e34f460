"""Hydra callback of the LOSO sweep: prepares the data once before the folds start, and
gathers every fold's predictions into one report per model when the sweep ends, with the
paired comparisons of ``loso.compare``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.evaluation.aggregate import read_predictions
from seizure_lightning.evaluation.decision import fold_calibrated
from seizure_lightning.evaluation.metrics import level_figures
from seizure_lightning.utils.io import atomic_write_json, atomic_write_text
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.naming import natural_key

log = get_logger(__name__)

SUMMARY_FIGURES = ("accuracy", "balanced_accuracy", "f1_es", "f1_pnes", "f1_macro", "mcc", "auroc")


class LosoSweepCallback(Callback):
    """``on_multirun_start``: synthetic data + descriptor cache built once (folds may run in
    parallel); ``on_multirun_end``: ``<sweep>/<model>/predictions.csv`` + report, and a
    ``<sweep>/summary.md`` comparing the models of the sweep, and ``<sweep>/comparisons.json``
    (paired patient-bootstrap differences of the pairs in ``loso.compare``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.utils import instantiate

        compare_pairs(config.loso.get("compare"))  # a malformed pair fails before any training
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
        comparisons = None
        try:
            pairs = compare_pairs(config.loso.get("compare"))
            if pairs:
                comparisons = compare_models(
                    sweep_dir, pairs, [r["model"] for r in rows],
                    n_boot=int(config.loso.n_boot), seed=int(config.seed))
                atomic_write_json(sweep_dir / "comparisons.json", comparisons)
            else:  # a re-run without pairs: no stale file beside the new summary
                (sweep_dir / "comparisons.json").unlink(missing_ok=True)
        except Exception as exc:  # the comparisons must not cost the summary
            log.error("no paired comparisons: %s", exc)
        if rows:
            text = summary_markdown(rows, sweep_dir, comparisons)
            atomic_write_text(sweep_dir / "summary.md", text)
            print(text)
        incomplete = incomplete_folds(rows)
        if incomplete:  # a partial paper table must not look like a finished one
            raise RuntimeError(
                "LOSO sweep incomplete: " + "; ".join(
                    f"{m}: fold(s) {', '.join(f)} failed or missing" for m, f in incomplete.items())
                + f". The reports and {sweep_dir / 'summary.md'} say so; re-run the same command "
                "to run the missing folds (finished ones are skipped).")

    def _report(self, config: DictConfig, model_dir: Path) -> dict[str, Any]:
        from seizure_lightning.report import write_sweep_report

        metrics = write_sweep_report(
            model_dir, n_boot=int(config.loso.n_boot), seed=int(config.seed),
            title=f"ES vs PNES, LOSO: {model_dir.name}",
            extra={"model": model_dir.name,
                   "allow_pretrain_overlap": bool(config.loso.allow_pretrain_overlap),
                   "decision": str(config.loso.get("decision", "argmax")),
                   "fold_decisions": fold_decisions(model_dir),
                   "deviations from the paper": model_deviations(model_dir)},
        )
        calibrated = fold_calibrated_figures(model_dir, metrics["extra"]["fold_decisions"],
                                             n_boot=int(config.loso.n_boot), seed=int(config.seed))
        if calibrated is not None:
            metrics["video_fold_calibrated"] = calibrated
            atomic_write_json(model_dir / "metrics.json", metrics)
        log_summary_run(config, model_dir, metrics)
        return {"model": model_dir.name, "metrics": metrics}


def fold_calibrated_figures(model_dir: Path, decisions: list[dict[str, Any]], *, n_boot: int,
                            seed: int) -> dict[str, Any] | None:
    """AUROC and AUPRC (with patient-bootstrap CIs) of the model's pooled predictions with each
    video's p_PNES taken relative to its fold's decision threshold
    (``evaluation.decision.fold_calibrated``); the calls, hence every other figure, are the same.
    None without fold-labelled predictions."""
    path = model_dir / "predictions.csv"
    if not path.is_file():
        return None
    frame = read_predictions(path)
    if "fold" not in frame.columns or frame.empty:
        return None
    thresholds = {str(d["fold"]): d.get("threshold") for d in decisions}
    p = fold_calibrated(frame.p_PNES.to_numpy(),
                        [thresholds.get(str(f)) for f in frame.fold.tolist()])
    figures = level_figures(frame.label, frame.pred, p, frame.subject_id.to_numpy(),
                            n_boot=n_boot, seed=seed)
    keep = ("auroc", "auprc")
    return {"rule": "p_PNES relative to each fold's decision threshold: "
                    "sigmoid(logit(p) - logit(threshold)); 0.5 without a threshold",
            **{k: figures.get(k) for k in keep},
            "ci": {k: v for k, v in (figures.get("ci") or {}).items() if k in keep}}


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


def fold_decisions(model_dir: Path) -> list[dict[str, Any]]:
    """One row per finished fold (from its ``summary.json``): the decision threshold it used,
    what its nested selection chose and that choice's inner-validation score, the epoch of the
    tested weights, and whether
    pre-training saw the held-out subject (yes / no / n/a without pre-training)."""
    rows = []
    paths = sorted(model_dir.glob("fold=*/summary.json"), key=lambda p: natural_key(p.parent.name))
    for path in paths:
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        selection = summary.get("selection") or {}
        chosen = selection.get("chosen")
        score = next((c.get("score") for c in selection.get("candidates", [])
                      if c.get("values") == chosen), None)
        overlap = summary.get("pretrain_overlap")
        rows.append({
            "fold": str(summary.get("fold") or path.parent.name[5:]),
            "threshold": None if summary.get("threshold") is None
            else round(float(summary["threshold"]), 4),
            "selected": ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in (chosen or {}).items()) or "-",
            f"val {selection.get('metric', 'score')}": score,
            "epoch": tested_epoch(summary.get("tested_checkpoint")),
            "pretrain_overlap": {True: "yes", False: "no", "unknown": "unknown"}.get(overlap, "n/a"),
        })
    return rows


def tested_epoch(checkpoint: str | None) -> int | None:
    """The 1-based epoch of a tested checkpoint file (``epoch024-step000125.ckpt`` -> 25), the
    epoch ``loso.checkpoint=best`` chose on the inner validation subjects; None when unknown."""
    found = re.search(r"epoch(\d+)", Path(str(checkpoint or "")).name)
    return int(found.group(1)) + 1 if found else None


def incomplete_folds(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{model: [folds that failed or are missing]}`` of the sweep's reports."""
    out = {}
    for row in rows:
        extra = row["metrics"].get("extra") or {}
        missing = [*extra.get("folds_failed", []), *extra.get("folds_missing", [])]
        if missing:
            out[row["model"]] = [str(f) for f in missing]
    return out


def model_dirs(sweep_dir: Path) -> list[Path]:
    """Sub-folders of the sweep that hold ``fold=*`` folders (one per model)."""
    found = {p.parent for p in sweep_dir.glob("*/fold=*") if p.is_dir()}
    return sorted(found)


def compare_pairs(value: Any) -> list[str]:
    """``loso.compare`` as a list of "A-B" strings (None/empty -> []; one string -> [it])."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    pairs = [str(v).strip() for v in value]
    bad = [p for p in pairs if "-" not in p.strip("-")]
    if bad:
        raise ValueError(f"loso.compare: {bad} are not 'A-B' pairs of model folders")
    return pairs


def split_pair(pair: str, models: list[str]) -> tuple[str, str]:
    """"A-B" -> (A, B); with hyphens in model names the split that names two known models."""
    cuts = [i for i, ch in enumerate(pair) if ch == "-" and 0 < i < len(pair) - 1]
    splits = [(pair[:i], pair[i + 1:]) for i in cuts]
    known = [s for s in splits if s[0] in models and s[1] in models]
    return known[0] if len(known) == 1 else splits[0]


def compare_models(
    sweep_dir: Path, pairs: list[str], models: list[str], *, n_boot: int, seed: int
) -> dict[str, Any]:
    """Paired patient-bootstrap differences (``paired_difference``) of each "A-B" pair whose
    models both have a report in the sweep; the others are skipped with a log line."""
    from seizure_lightning.evaluation.aggregate import read_predictions
    from seizure_lightning.evaluation.metrics import PAIRED_METRICS, PAIRED_RULE, paired_difference

    done, skipped = [], []
    for pair in pairs:
        a, b = split_pair(pair, models)
        absent = [m for m in (a, b) if m not in models]
        reason = None
        if a == b:
            reason = "a model compared with itself"
        elif absent:
            reason = f"not in the sweep (or no report): {', '.join(absent)}"
        else:
            try:
                result = paired_difference(
                    read_predictions(sweep_dir / a / "predictions.csv"),
                    read_predictions(sweep_dir / b / "predictions.csv"),
                    n_boot=n_boot, seed=seed)
                done.append({"pair": pair, "a": a, "b": b, **result})
            except (OSError, ValueError) as exc:
                reason = str(exc)
        if reason is not None:
            log.warning("comparison %s skipped: %s", pair, reason)
            skipped.append({"pair": pair, "reason": reason})
    return {"level": "video", "metrics": list(PAIRED_METRICS), "n_boot": n_boot, "seed": seed,
            "rule": PAIRED_RULE, "comparisons": done, "skipped": skipped}


def verdict(a: str, b: str, ci: list[float | None] | None) -> str:
    """Plain words for a CI of ``a - b``."""
    if not ci or ci[0] is None or ci[1] is None:
        return "no CI"
    if ci[0] > 0:
        return f"{a} better: CI above 0"
    if ci[1] < 0:
        return f"{b} better: CI below 0"
    return "no difference shown: CI includes 0"


def _with_ci(value: Any, ci: list[float | None] | None) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return f"{_fmt(value)} [n/a]"
    return f"{_fmt(value)} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _ba_ci(figures: dict[str, Any]) -> str:
    ci = (figures.get("ci") or {}).get("balanced_accuracy") or {}
    return _with_ci(figures.get("balanced_accuracy"), [ci.get("low"), ci.get("high")])


def _auroc_ci(figures: dict[str, Any]) -> str:
    if figures.get("auroc") is None:
        return "n/a"
    ci = (figures.get("ci") or {}).get("auroc") or {}
    return _with_ci(figures.get("auroc"), [ci.get("low"), ci.get("high")])


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * len(frame.columns) + "\n"
    return header + "".join(
        "| " + " | ".join(_fmt(v) for v in rec) + " |\n" for rec in frame.itertuples(index=False)
    )


def comparisons_markdown(comparisons: dict[str, Any]) -> str:
    """The paired-comparison section of the summary (one row per compared pair)."""
    table = []
    for c in comparisons.get("comparisons", []):
        ba, auc = c["balanced_accuracy"], c["auroc"]
        table.append({
            "A": c["a"], "B": c["b"],
            "Δ balanced accuracy [95% CI]": _with_ci(ba["difference"], ba["ci"]),
            "Δ AUROC [95% CI]": _with_ci(auc["difference"], auc["ci"]),
            "verdict": (f"balanced accuracy: {verdict(c['a'], c['b'], ba['ci'])}; "
                        f"AUROC: {verdict(c['a'], c['b'], auc['ci'])}"),
        })
    text = ("## Paired comparisons\n\nVideo-level A − B on the same videos; 95% CI of a paired "
            f"patient bootstrap (n_boot={comparisons.get('n_boot')}, "
            f"seed={comparisons.get('seed')}): each replicate resamples patients once and scores "
            "both models on it. Details: `comparisons.json`.\n\n")
    text += _markdown_table(pd.DataFrame(table)) if table else "No pair could be compared.\n"
    skipped = "".join(f"- {s['pair']}: {s['reason']}\n" for s in comparisons.get("skipped", []))
    return text + (f"\nSkipped:\n{skipped}" if skipped else "")


def summary_markdown(
    rows: list[dict[str, Any]], sweep_dir: Path, comparisons: dict[str, Any] | None = None
) -> str:
    """Each model's video-level figures (balanced accuracy with its 95% CI) and the
    majority-class row; then the paired comparisons (``compare_models``) when given."""
    table = []
    for row in rows:
        video = row["metrics"]["video"]
        table.append({"model": row["model"], **{k: video.get(k) for k in SUMMARY_FIGURES},
                      "balanced_accuracy [95% CI]": _ba_ci(video),
                      "auroc [95% CI]": _auroc_ci(video),
                      "auroc fold-calibrated [95% CI]":
                          _auroc_ci(row["metrics"].get("video_fold_calibrated") or {})})
    base = rows[0]["metrics"]["majority_baseline"]["video"]
    table.append({"model": "majority class", **{k: base.get(k) for k in SUMMARY_FIGURES},
                  "balanced_accuracy [95% CI]": _ba_ci(base), "auroc [95% CI]": _auroc_ci(base),
                  "auroc fold-calibrated [95% CI]": _auroc_ci(base)})
    boot = rows[0]["metrics"].get("bootstrap") or {}
    links = "".join(f"- {r['model']}: `{r['model']}/report.md`\n" for r in rows)
    text = (f"# LOSO sweep summary\n\nSweep: `{sweep_dir.name}`; video-level figures "
            f"(f1_es = the paper's F1, ES positive); 95% CI: percentile bootstrap over patients "
            f"(n_boot={boot.get('n_boot', 'n/a')}); auroc fold-calibrated: each video's p_PNES "
            f"relative to its fold's decision threshold before pooling the folds (every fold is "
            f"its own model; the offset of a fold cannot rank its patient).\n\n{_markdown_table(pd.DataFrame(table))}"
            f"\nReports:\n{links}")
    for model, folds in incomplete_folds(rows).items():
        text += (f"\n> **Warning:** {model}: fold(s) {', '.join(folds)} failed or are missing; "
                 "their videos are not in these figures.\n")
    if comparisons is not None:
        text += "\n" + comparisons_markdown(comparisons)
    return text


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
