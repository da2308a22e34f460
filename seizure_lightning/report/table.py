"""The README's "Demo results" figures, from what ``make demo`` wrote (no figure typed by hand).

    python -m seizure_lightning.report.table [ROOT] [--sweep demo] [--pretrain logs/demo/pretrain]

ROOT is the demo's ``paths.root_dir`` (``DEMO_ROOT``, default: the current folder). Prints
Markdown: the pre-training line (``<pretrain>/metrics.json``), the LOSO table (each model's
``metrics.json``, video level, with the majority-class baseline), the paired comparisons
(``comparisons.json``) and the run's timings (each fold's record, ``timings_s``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seizure_lightning.evaluation.fold_record import read_fold_records
from seizure_lightning.report.format import figure_with_ci, fmt, with_ci

LABELS = {
    "tiny": "`tiny`, pre-trained, fine-tuned",
    "tiny_scratch_same": "`tiny_scratch_same` (random weights, `tiny`'s recipe)",
    "tiny_scratch": "`tiny_scratch` (random weights, plain fine-tuning)",
    "paper_small": "`paper_small` (the paper's recipe, small), pre-trained",
    "paper_small_scratch": "`paper_small_scratch` (the paper's recipe, small), random weights",
    "tiny_probe": "`tiny_probe` (frozen pre-trained encoder, linear head)",
    "tiny_probe_scratch": "`tiny_probe_scratch` (frozen random encoder, linear head)",
    "lstm": "`lstm`",
    "motion_spectrum": "`motion_spectrum` (hand-crafted temporal)",
    "meanpool_linear": "`meanpool_linear` (non-temporal)",
}


def pretrain_line(metrics: dict[str, float]) -> str:
    """The pre-training's pretext loss on the corrupted positions against trivial predictors."""
    m = {k.removeprefix("val/pretext/"): v for k, v in metrics.items()}
    best = min(m.get(f"{k}_corrupted", float("inf")) for k in ("copy", "interpolate", "mean"))
    return (f"validation loss on the corrupted positions {fmt(m.get('model_corrupted'))}, "
            f"against {fmt(best)} for the best trivial predictor (copy "
            f"{fmt(m.get('copy_corrupted'))}, interpolate {fmt(m.get('interpolate_corrupted'))}, "
            f"mean {fmt(m.get('mean_corrupted'))}): `val/pretext/ratio` {fmt(m.get('ratio'))}")


def loso_table(sweep: Path) -> list[str]:
    """One row per model (best balanced accuracy first) and the majority-class row."""
    rows: list[tuple[str, dict[str, Any]]] = []
    majority = None
    for path in sorted(sweep.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        rows.append((path.parent.name, metrics["video"]))
        majority = majority or (metrics.get("majority_baseline") or {}).get("video")
    rows.sort(key=lambda r: -(r[1].get("balanced_accuracy") or 0))
    out = ["| model | accuracy | balanced accuracy [95% CI] | F1 (ES+, paper) | F1 (PNES+) | MCC "
           "| AUROC [95% CI] |", "|---|---|---|---|---|---|---|"]
    for name, v in rows:
        out.append(f"| {LABELS.get(name, f'`{name}`')} | {fmt(v['accuracy'])} | "
                   f"{figure_with_ci(v, 'balanced_accuracy')} | {fmt(v['f1_es'])} | "
                   f"{fmt(v['f1_pnes'])} | {fmt(v['mcc'])} | {figure_with_ci(v, 'auroc')} |")
    if majority:
        out.append("| majority class | " + " | ".join(fmt(majority[k]) for k in (
            "accuracy", "balanced_accuracy", "f1_es", "f1_pnes", "mcc", "auroc")) + " |")
    return out


def comparisons(sweep: Path) -> list[str]:
    """The paired differences of ``comparisons.json``, one line per pair and figure."""
    path = sweep / "comparisons.json"
    if not path.is_file():
        return []
    out = []
    for c in json.loads(path.read_text())["comparisons"]:
        for metric in ("balanced_accuracy", "auroc"):
            d = c.get(metric) or {}
            if d.get("difference") is None:
                continue
            out.append(f"- `{c['a']}` − `{c['b']}` {metric.replace('_', ' ')}: "
                       f"{with_ci(d['difference'], d['ci'], signed=True)}")
    return out


def timings(sweep: Path) -> list[str]:
    """Per model: the mean fit and set-up + test seconds of a fold (the folds' records)."""
    out = []
    for model in sorted(p for p in sweep.iterdir() if p.is_dir()):
        t = [r.timings_s for r in read_fold_records(model) if r.timings_s is not None]
        if t:
            fit = sum(x.fit for x in t) / len(t)
            rest = sum(x.setup + x.test for x in t) / len(t)
            out.append(f"- `{model.name}`: {len(t)} folds, per fold fit {fit:.1f} s, set-up and "
                       f"test {rest:.1f} s")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seizure_lightning.report.table",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, nargs="?", default=Path("."))
    p.add_argument("--sweep", default="demo")
    p.add_argument("--pretrain", default="logs/demo/pretrain")
    a = p.parse_args(argv)
    sweep = a.root / "logs" / "loso" / a.sweep
    if not sweep.is_dir():
        print(f"error: sweep folder not found: {sweep}", file=sys.stderr)
        return 2
    pre = a.root / a.pretrain / "metrics.json"
    if pre.is_file():
        print("**Pre-training**:", pretrain_line(json.loads(pre.read_text())) + ".\n")
    print("\n".join(loso_table(sweep)))
    pairs = comparisons(sweep)
    if pairs:
        print("\nPaired patient bootstrap (A − B, 95% CI):\n")
        print("\n".join(pairs))
    rows = timings(sweep)
    if rows:
        print("\nFold timings (each fold's record, `timings_s`):\n")
        print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
