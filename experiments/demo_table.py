"""The README's "Demo results" figures, from what ``make demo`` wrote (no figure typed by hand).

    .venv/bin/python experiments/demo_table.py [ROOT] [--sweep demo] [--pretrain logs/demo/pretrain]

ROOT is the demo's ``paths.root_dir`` (``DEMO_ROOT``, default: this folder). Prints Markdown:
the pre-training line (``<pretrain>/metrics.json``), the LOSO table (each model's
``metrics.json``, video level, with the majority-class baseline; the AUROC of raw p_PNES pooled
over folds and the fold-calibrated one, ``video_fold_calibrated``), the paired comparisons
(``comparisons.json``) and the run's timings (each fold's ``summary.json`` ``timings_s``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

LABELS = {
    "tiny": "`tiny`, pre-trained, fine-tuned",
    "tiny_scratch": "`tiny_scratch` (no pre-training)",
    "tiny_probe": "`tiny_probe` (frozen pre-trained encoder, linear head)",
    "tiny_probe_scratch": "`tiny_probe_scratch` (frozen random encoder, linear head)",
    "lstm": "`lstm`",
    "motion_spectrum": "`motion_spectrum` (hand-crafted temporal)",
    "meanpool_linear": "`meanpool_linear` (non-temporal)",
}


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(video: dict, key: str) -> str:
    ci = (video.get("ci") or {}).get(key) or {}
    if ci.get("low") is None:
        return _f(video.get(key))
    return f"{_f(video.get(key))} [{_f(ci['low'])}, {_f(ci['high'])}]"


def pretrain_line(metrics: dict[str, float]) -> str:
    m = {k.removeprefix("val/pretext/"): v for k, v in metrics.items()}
    best = min(m.get(f"{k}_corrupted", float("inf")) for k in ("copy", "interpolate", "mean"))
    return (f"validation loss on the corrupted positions {m.get('model_corrupted', float('nan')):.3f}"
            f", against {best:.3f} for the best trivial predictor (copy "
            f"{m.get('copy_corrupted', float('nan')):.3f}, interpolate "
            f"{m.get('interpolate_corrupted', float('nan')):.3f}, mean "
            f"{m.get('mean_corrupted', float('nan')):.3f}): `val/pretext/ratio` "
            f"{m.get('ratio', float('nan')):.3f}")


def loso_table(sweep: Path) -> list[str]:
    rows, majority = [], None
    for path in sorted(sweep.glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        rows.append((path.parent.name, metrics["video"], metrics.get("video_fold_calibrated")))
        majority = majority or (metrics.get("majority_baseline") or {}).get("video")
    rows.sort(key=lambda r: -(r[1].get("balanced_accuracy") or 0))
    out = ["| model | accuracy | balanced accuracy [95% CI] | F1 (ES+, paper) | F1 (PNES+) | MCC "
           "| AUROC [95% CI] | AUROC, fold-calibrated [95% CI] |", "|---|---|---|---|---|---|---|---|"]
    for name, v, cal in rows:
        out.append(f"| {LABELS.get(name, f'`{name}`')} | {_f(v['accuracy'])} | "
                   f"{_ci(v, 'balanced_accuracy')} | {_f(v['f1_es'])} | {_f(v['f1_pnes'])} | "
                   f"{_f(v['mcc'])} | {_ci(v, 'auroc')} | {_ci(cal, 'auroc') if cal else 'n/a'} |")
    if majority:
        out.append(f"| majority class | {_f(majority['accuracy'])} | "
                   f"{_f(majority['balanced_accuracy'])} | {_f(majority['f1_es'])} | "
                   f"{_f(majority['f1_pnes'])} | {_f(majority['mcc'])} | {_f(majority['auroc'])} "
                   f"| {_f(majority['auroc'])} |")
    return out


def comparisons(sweep: Path) -> list[str]:
    path = sweep / "comparisons.json"
    if not path.is_file():
        return []
    out = []
    for c in json.loads(path.read_text())["comparisons"]:
        for metric in ("balanced_accuracy", "auroc"):
            d = c.get(metric) or {}
            if d.get("difference") is None:
                continue
            lo, hi = d["ci"]
            out.append(f"- `{c['a']}` − `{c['b']}` {metric.replace('_', ' ')}: "
                       f"{d['difference']:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    return out


def timings(sweep: Path) -> list[str]:
    out = []
    for model in sorted(p for p in sweep.iterdir() if p.is_dir()):
        t = [json.loads(f.read_text()).get("timings_s") or {}
             for f in model.glob("fold=*/summary.json")]
        t = [x for x in t if x]
        if t:
            fit = sum(x["fit"] for x in t) / len(t)
            rest = sum(x["setup"] + x["test"] for x in t) / len(t)
            out.append(f"- `{model.name}`: {len(t)} folds, per fold fit {fit:.1f} s, set-up and "
                       f"test {rest:.1f} s")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, nargs="?", default=Path("."))
    p.add_argument("--sweep", default="demo")
    p.add_argument("--pretrain", default="logs/demo/pretrain")
    a = p.parse_args()
    sweep = a.root / "logs" / "loso" / a.sweep
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
        print("\nFold timings (`summary.json` `timings_s`):\n")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
