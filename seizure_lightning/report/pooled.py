"""Figures of several LOSO sweeps of the same models pooled into one patient population.

    python -m seizure_lightning.report.pooled logs/loso/bench-seed6 logs/loso/bench-seed7 \
        [--model tiny ...] [--compare tiny-tiny_scratch ...] [--n-boot 2000]

Each sweep is one draw of the synthetic benchmark (its own 24 patients). This reads every
sweep's ``<model>/predictions.csv`` (the held-out videos of all its folds), prefixes each
``subject_id`` and ``video_id`` with the sweep's name (P01 of seed 6 is not P01 of seed 7), and
scores the union with the framework's own functions: balanced accuracy and AUROC with a
patient-bootstrap 95% CI (``evaluation.metrics.evaluate``) and the paired patient-bootstrap
difference of two models on the same videos (``evaluation.metrics.paired_difference``). Nothing
is retrained: it answers "over all the report seeds' patients together, what is the effect and
how sure are we?" (docs/evaluation.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from seizure_lightning.evaluation.aggregate import read_predictions
from seizure_lightning.evaluation.comparisons import split_pair
from seizure_lightning.evaluation.metrics import evaluate, paired_difference
from seizure_lightning.report.format import figure_with_ci, with_ci

DEFAULT_MODELS = ("tiny", "tiny_scratch", "tiny_probe", "tiny_probe_scratch", "lstm",
                  "motion_spectrum", "meanpool_linear")
DEFAULT_COMPARE = ("tiny-tiny_scratch", "tiny-motion_spectrum", "tiny_probe-tiny_probe_scratch")


def prefix_ids(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """A copy of a predictions table with ``subject_id``, ``video_id`` (and ``fold``) prefixed
    ``<prefix>/``: patient P01 of one draw of the benchmark is not P01 of another."""
    frame = frame.copy()
    for column in ("subject_id", "video_id", "fold"):
        if column in frame.columns:
            frame[column] = prefix + "/" + frame[column].astype(str)
    return frame


def pooled_predictions(sweeps: Sequence[Path], model: str) -> pd.DataFrame:
    """``model``'s held-out predictions of every sweep, ids prefixed ``<sweep name>/``."""
    frames = []
    for sweep in sweeps:
        path = Path(sweep) / model / "predictions.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no predictions of model {model!r} in sweep {sweep}")
        frames.append(prefix_ids(read_predictions(path), Path(sweep).name))
    names = [Path(s).name for s in sweeps]
    if len(set(names)) != len(names):
        raise ValueError(f"two sweeps share a folder name: {names}")
    return pd.concat(frames, ignore_index=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seizure_lightning.report.pooled",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="logs/loso/<sweep> folders")
    parser.add_argument("--model", action="append", help=f"default: {', '.join(DEFAULT_MODELS)}")
    parser.add_argument("--compare", action="append", help="A-B (default: "
                        f"{', '.join(DEFAULT_COMPARE)})")
    parser.add_argument("--n-boot", type=int, default=2000)
    args = parser.parse_args(argv)
    models = args.model or [m for m in DEFAULT_MODELS
                            if all((s / m / "predictions.csv").is_file() for s in args.sweeps)]
    if not models:
        print(f"error: no model of {', '.join(DEFAULT_MODELS)} has predictions in every sweep; "
              "name them with --model", file=sys.stderr)
        return 2
    frames = {m: pooled_predictions(args.sweeps, m) for m in models}
    names = ", ".join(s.name for s in args.sweeps)
    any_frame = next(iter(frames.values()))
    print(f"Pooled over {names}: {any_frame['subject_id'].nunique()} patients, "
          f"{len(any_frame)} videos; 95% CI: patient bootstrap, n_boot={args.n_boot}\n")
    print("| model | balanced accuracy [95% CI] | AUROC [95% CI] |\n| --- | --- | --- |")
    for model, frame in frames.items():
        video = evaluate(frame, n_boot=args.n_boot)["video"]
        print(f"| `{model}` | {figure_with_ci(video, 'balanced_accuracy')} | "
              f"{figure_with_ci(video, 'auroc')} |")
    print("\nPaired patient bootstrap, A − B [95% CI]:\n")
    for pair in args.compare or DEFAULT_COMPARE:
        a, b = split_pair(pair, list(frames))
        if a not in frames or b not in frames:
            continue
        result = paired_difference(frames[a], frames[b], n_boot=args.n_boot)
        ba, auroc = result["balanced_accuracy"], result["auroc"]
        print(f"- `{a}` − `{b}`: balanced accuracy "
              f"{with_ci(ba['difference'], ba['ci'], signed=True)}, AUROC "
              f"{with_ci(auroc['difference'], auroc['ci'], signed=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
