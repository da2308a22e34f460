"""The reports of a LOSO sweep (``<sweep>/<model>/fold=<subject>/``): each model's report with
its folds' decisions, ``comparisons.json`` (paired comparisons of ``loso.compare``), and
``summary.md`` + ``summary.png`` comparing the models of the sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seizure_lightning.evaluation.comparisons import compare_models
from seizure_lightning.evaluation.fold_record import FoldRecord, read_fold_records
from seizure_lightning.report.format import figure_with_ci, markdown_table, with_ci
from seizure_lightning.report.plots import plot_sweep_summary
from seizure_lightning.report.writer import write_sweep_report
from seizure_lightning.utils.io import atomic_write_json, atomic_write_text

SUMMARY_FIGURES = ("accuracy", "balanced_accuracy", "f1_es", "f1_pnes", "f1_macro", "mcc", "auroc")
_OVERLAP = {True: "yes", False: "no", "unknown": "unknown"}


def fold_decision_rows(records: list[FoldRecord]) -> list[dict[str, Any]]:
    """One row per finished fold: the decision threshold it used, what its nested selection
    chose and that choice's inner-validation score, the epoch of the tested weights, and
    whether pre-training saw the held-out subject (yes / no / n/a without pre-training)."""
    rows = []
    for record in records:
        selection = record.selection
        chosen = selection.chosen if selection else {}
        rows.append({
            "fold": record.fold,
            "threshold": round(record.decision.line, 4),
            "selected": ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in chosen.items()) or "-",
            f"val {selection.metric if selection else 'score'}":
                selection.chosen_candidate.score if selection else None,
            "epoch": record.tested_epoch,
            "pretrain_overlap": _OVERLAP.get(record.pretrain_overlap, "n/a"),
        })
    return rows


def write_model_report(model_dir: Path, *, n_boot: int, seed: int, run: dict[str, Any],
                       deviations: list[str]) -> dict[str, Any]:
    """One model's report of the sweep (``report.writer.write_sweep_report``): ``run`` (the
    sweep's settings worth showing), the folds' decisions from their records, and how the
    model differs from the paper (``deviations``); the timelines draw each fold's threshold."""
    records = read_fold_records(model_dir)
    return write_sweep_report(
        model_dir, n_boot=n_boot, seed=seed, title=f"ES vs PNES, LOSO: {model_dir.name}",
        extra={"model": model_dir.name, **run, "fold_decisions": fold_decision_rows(records),
               "deviations from the paper": deviations},
        thresholds={str(r.fold): r.decision.line for r in records})


def write_comparisons(sweep_dir: Path, pairs: list[str], models: list[str], *, n_boot: int,
                      seed: int) -> dict[str, Any] | None:
    """``<sweep>/comparisons.json`` of the pairs (``evaluation.comparisons.compare_models``);
    None, and no stale file beside a new summary, without pairs."""
    path = sweep_dir / "comparisons.json"
    if not pairs:
        path.unlink(missing_ok=True)
        return None
    comparisons = compare_models(sweep_dir, pairs, models, n_boot=n_boot, seed=seed)
    atomic_write_json(path, comparisons)
    return comparisons


def incomplete_folds(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """``{model: [folds that failed or are missing]}`` of the sweep's reports (rows of
    ``{"model", "metrics"}``)."""
    out = {}
    for row in rows:
        extra = row["metrics"].get("extra") or {}
        missing = [*extra.get("folds_failed", []), *extra.get("folds_missing", [])]
        if missing:
            out[row["model"]] = [str(f) for f in missing]
    return out


def verdict(a: str, b: str, ci: list[float | None] | None) -> str:
    """Plain words for a CI of ``a - b``."""
    if not ci or ci[0] is None or ci[1] is None:
        return "no CI"
    if ci[0] > 0:
        return f"{a} better: CI above 0"
    if ci[1] < 0:
        return f"{b} better: CI below 0"
    return "no difference shown: CI includes 0"


def comparisons_markdown(comparisons: dict[str, Any]) -> str:
    """The paired-comparison section of the summary (one row per compared pair)."""
    table = []
    for c in comparisons.get("comparisons", []):
        ba, auc = c["balanced_accuracy"], c["auroc"]
        table.append({
            "A": c["a"], "B": c["b"],
            "Δ balanced accuracy [95% CI]": with_ci(ba["difference"], ba["ci"], signed=True),
            "Δ AUROC [95% CI]": with_ci(auc["difference"], auc["ci"], signed=True),
            "verdict": (f"balanced accuracy: {verdict(c['a'], c['b'], ba['ci'])}; "
                        f"AUROC: {verdict(c['a'], c['b'], auc['ci'])}"),
        })
    text = ("## Paired comparisons\n\nVideo-level A − B on the same videos; 95% CI of a paired "
            f"patient bootstrap (n_boot={comparisons.get('n_boot')}, "
            f"seed={comparisons.get('seed')}): each replicate resamples patients once and scores "
            "both models on it. Details: `comparisons.json`.\n\n")
    text += markdown_table(table) if table else "No pair could be compared.\n"
    skipped = "".join(f"- {s['pair']}: {s['reason']}\n" for s in comparisons.get("skipped", []))
    return text + (f"\nSkipped:\n{skipped}" if skipped else "")


def _summary_row(model: str, video: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, **{k: video.get(k) for k in SUMMARY_FIGURES},
            "balanced_accuracy [95% CI]": figure_with_ci(video, "balanced_accuracy"),
            "auroc [95% CI]": figure_with_ci(video, "auroc")}


def summary_markdown(
    rows: list[dict[str, Any]], sweep_dir: Path, comparisons: dict[str, Any] | None = None
) -> str:
    """Each model's video-level figures (balanced accuracy and AUROC with their 95% CIs) and the
    majority-class row; then the paired comparisons (``write_comparisons``) when given."""
    table = [_summary_row(row["model"], row["metrics"]["video"]) for row in rows]
    table.append(_summary_row("majority class", rows[0]["metrics"]["majority_baseline"]["video"]))
    boot = rows[0]["metrics"].get("bootstrap") or {}
    links = "".join(f"- {r['model']}: `{r['model']}/report.md`\n" for r in rows)
    text = (f"# LOSO sweep summary\n\nSweep: `{sweep_dir.name}`; video-level figures "
            f"(f1_es = the paper's F1, ES positive); 95% CI: percentile bootstrap over patients "
            f"(n_boot={boot.get('n_boot', 'n/a')}). At a glance: `summary.png`.\n\n"
            f"{markdown_table(table)}\nReports:\n{links}")
    for model, folds in incomplete_folds(rows).items():
        text += (f"\n> **Warning:** {model}: fold(s) {', '.join(folds)} failed or are missing; "
                 "their videos are not in these figures.\n")
    if comparisons is not None:
        text += "\n" + comparisons_markdown(comparisons)
    return text


def write_sweep_summary(sweep_dir: Path, rows: list[dict[str, Any]],
                        comparisons: dict[str, Any] | None) -> str:
    """``<sweep>/summary.md`` and ``<sweep>/summary.png`` of the models' reports (rows of
    ``{"model", "metrics"}``) and the comparisons; the Markdown text."""
    text = summary_markdown(rows, sweep_dir, comparisons)
    atomic_write_text(sweep_dir / "summary.md", text)
    plot_sweep_summary({r["model"]: r["metrics"]["video"] for r in rows},
                       (comparisons or {}).get("comparisons"), sweep_dir / "summary.png")
    return text
