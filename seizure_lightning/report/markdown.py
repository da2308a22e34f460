"""The Markdown text of a report from its metrics dict."""

from __future__ import annotations

from typing import Any

from seizure_lightning.constants import LABELS
from seizure_lightning.evaluation.metrics import METRICS, PAPER_F1, POSITIVE_CLASS
from seizure_lightning.report.format import figure_with_ci, fmt, markdown_table

TABLE_NAMES: dict[str, str] = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1_es": "F1, ES positive (the paper's F1)",
    "f1_pnes": "F1, PNES positive",
    "f1_macro": "F1, macro",
    "precision_es": "Precision ES",
    "recall_es": "Recall ES (= specificity)",
    "precision_pnes": "Precision PNES",
    "recall_pnes": "Recall PNES (= sensitivity)",
    "sensitivity": "Sensitivity (PNES detected)",
    "specificity": "Specificity (ES kept)",
    "mcc": "MCC",
    "auroc": "AUROC (p_PNES)",
    "auprc": "AUPRC (p_PNES, PNES positive)",
    "brier": "Brier score (p_PNES; lower is better)",
}

F1_NOTE = (
    "**Which F1.** `f1_es` is F1 with ES as the positive class, the paper's F1: fed the paper's "
    "own video-wise confusion matrix (true ES 181->ES, 54->PNES; true PNES 15->ES, 33->PNES) this "
    "report gives accuracy 0.756, F1-ES 0.840, F1-PNES 0.489 and macro F1 0.664. The paper's "
    "stated F1 of 0.82 cannot be reproduced from that table, so this report prints every F1 "
    "with its positive class named; compare `f1_es` with the paper."
)


def _figures_table(metrics: dict[str, Any]) -> list[str]:
    base = metrics["majority_baseline"]
    lines = [
        "| Figure | Video level [95% CI] | Subject level [95% CI] "
        "| Majority, video | Majority, subject |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in METRICS:
        lines.append(
            f"| {TABLE_NAMES[name]} | {figure_with_ci(metrics['video'], name)} | "
            f"{figure_with_ci(metrics['subject'], name)} | {fmt(base['video'].get(name))} | "
            f"{fmt(base['subject'].get(name))} |"
        )
    return lines


def _confusion_table(confusion: list[list[int]], what: str) -> list[str]:
    lines = [
        f"| {what}: true \\ predicted | {LABELS[0]} | {LABELS[1]} | total |",
        "| --- | --- | --- | --- |",
    ]
    for lab, row in zip(LABELS, confusion):
        lines.append(f"| {lab} | {row[0]} | {row[1]} | {sum(row)} |")
    return lines


def _subject_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Subject | Label | Videos | Correct | Accuracy | mean p_PNES | Subject prediction |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['subject_id']} | {r['label']}{' (mixed)' if r.get('mixed_labels') else ''} | "
            f"{r['n_videos']} | {r['n_correct']} | {fmt(r['accuracy'])} | {fmt(r['p_PNES'])} | "
            f"{r['pred']} |"
        )
    return lines


def _extra_section(extra: dict[str, Any]) -> list[str]:
    lines = ["## Run", ""]
    for key, value in extra.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines += ["", f"**{key}**", "", markdown_table(value)]
        elif isinstance(value, dict):
            shown = ", ".join(f"{k} {fmt(v)}" for k, v in value.items())
            lines.append(f"- {key}: {shown or '(none)'}")
        elif isinstance(value, list | tuple) and any(" " in str(v) for v in value):
            lines += [f"- {key}:", *(f"  - {v}" for v in value)]
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else fmt(value)
            lines.append(f"- {key}: {shown or '(none)'}")
    return [*lines, ""]


def _fold_warnings(extra: dict[str, Any]) -> list[str]:
    lines = []
    for key in ("folds_failed", "folds_missing"):
        if extra.get(key):
            lines.append(
                f"> **Warning:** {key.replace('_', ' ')}: {', '.join(map(str, extra[key]))}. "
                "Their videos are not in these figures."
            )
    if extra.get("pretrain_overlap"):
        lines.append(
            "> **Note:** pre-training saw contextual video of held-out subject(s) "
            f"({extra['pretrain_overlap']}), allowed by `loso.allow_pretrain_overlap=true`."
        )
    return [*lines, ""] if lines else []


def render_markdown(metrics: dict[str, Any], images: dict[str, str], title: str) -> str:
    """The report's Markdown: counts, figures with CIs, confusion, per-subject table, plots."""
    counts, video = metrics["counts"], metrics["video"]
    boot = metrics["bootstrap"]
    extra = metrics.get("extra") or {}
    lines = [f"# {title}", ""]
    lines += _fold_warnings(extra)
    lines += [
        f"{counts['n_videos']} videos ({counts['videos_per_class']['ES']} ES, "
        f"{counts['videos_per_class']['PNES']} PNES) of {counts['n_subjects']} subjects "
        f"({counts['subjects_per_class']['ES']} ES, {counts['subjects_per_class']['PNES']} PNES); "
        f"{counts['n_folds']} fold(s).",
        "",
        F1_NOTE,
        "",
        "## Figures",
        "",
        f"Paper's F1: `{PAPER_F1}`. Sensitivity/specificity, AUROC, AUPRC and Brier take PNES as "
        "the positive class. "
        + (
            f"95% CIs: percentile bootstrap, {boot['n_boot']} resamples of patients "
            f"(clustered, seed {boot['seed']})."
            if boot["n_boot"]
            else "No bootstrap CIs (n_boot = 0)."
        ),
        "",
        *_figures_table(metrics),
        "",
        f"Subject level: {metrics['subject']['rule']}.",
        "",
        f"Majority: {metrics['majority_baseline']['rule']}.",
        "",
    ]
    notes = [f"- video level: {n}" for n in video["notes"]]
    notes += [f"- subject level: {n}" for n in metrics["subject"]["notes"]]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    lines += [
        "## Confusion matrices",
        "",
        *_confusion_table(video["confusion"], "Videos"),
        "",
        *_confusion_table(metrics["subject"]["confusion"], "Subjects"),
        "",
    ]
    if "confusion" in images:
        lines += [f"![confusion matrix]({images['confusion']})", ""]
    if "roc_pr" in images:
        lines += [
            "## ROC and precision-recall",
            "",
            f"![ROC and PR curves]({images['roc_pr']})",
            "",
        ]
    lines += ["## Per subject", ""]
    if "subject_accuracy" in images:
        lines += [f"![per-subject accuracy]({images['subject_accuracy']})", ""]
    lines += [*_subject_table(metrics["per_subject"]), ""]
    if "timelines" in images:
        lines += [
            "## Per-video probability timelines",
            "",
            f"![timelines]({images['timelines']})",
            "",
        ]
    if extra:
        lines += _extra_section(extra)
    lines += ["## Positive class of each figure", ""]
    lines += [f"- `{k}`: {v}" for k, v in POSITIVE_CLASS.items()]
    return "\n".join(lines) + "\n"
