"""``docs/results.md``, written from the results folders of every protocol (never by hand).

Per protocol (the current one first) and setting: every report seed that has run, pooled into
one patient population (ids prefixed by the seed, ``report.pooled.prefix_ids``), each model's
balanced accuracy and AUROC with a patient-bootstrap 95% CI, the protocol's paired comparisons,
and the pre-training's pretext ratio per seed. A results folder whose protocol hash is not its
protocol's hash (the protocol was edited after the run) or whose seed is not a report seed of
its protocol is refused, so the page cannot pool a chosen subset or a changed protocol.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from seizure_lightning.benchmark.protocol import (
    Protocol,
    ProtocolError,
    ProtocolFile,
    protocol_hash,
)
from seizure_lightning.benchmark.runner import RESULTS_DIR, RUN_FILE
from seizure_lightning.evaluation.aggregate import read_predictions
from seizure_lightning.evaluation.metrics import evaluate, paired_difference
from seizure_lightning.report.format import figure_with_ci, fmt, with_ci
from seizure_lightning.report.pooled import prefix_ids

RESULTS_PAGE = Path("docs/results.md")
EARLIER = Path("docs/results/earlier")
N_BOOT = 2000
COMMAND = "python -m seizure_lightning.benchmark results"


def seed_folders(protocol: Protocol, setting: str, repo: Path) -> dict[int, Path]:
    """The results folders of ``setting`` under ``protocol``, by seed, checked."""
    base = repo / RESULTS_DIR / protocol.id / setting
    folders: dict[int, Path] = {}
    for folder in sorted(base.glob("seed*")):
        if folder.name.startswith("."):
            continue
        record = json.loads((folder / RUN_FILE).read_text())
        seed = int(record["seed"])
        if seed not in protocol.report_seeds or folder.name != f"seed{seed}":
            raise ProtocolError(f"{folder}: seed {seed} is not a report seed of protocol "
                                f"{protocol.id} ({list(protocol.report_seeds)})")
        if record.get("protocol_hash") != protocol_hash(protocol):
            raise ProtocolError(f"{folder}: written under protocol hash "
                                f"{record.get('protocol_hash')}, protocol {protocol.id} is now "
                                f"{protocol_hash(protocol)}: a protocol is not edited after "
                                "its runs; freeze a new one")
        folders[seed] = folder
    return folders


def pooled(folders: dict[int, Path], model: str) -> pd.DataFrame:
    return pd.concat([prefix_ids(read_predictions(f / f"{model}.csv"), f"seed{s}")
                      for s, f in folders.items()], ignore_index=True)


def _pretext(folder: Path) -> str:
    path = folder / "pretrain_metrics.json"
    if not path.is_file():
        return "n/a"
    return fmt(json.loads(path.read_text()).get("val/pretext/ratio"))


def setting_section(protocol: Protocol, name: str, repo: Path) -> list[str]:
    setting = protocol.settings[name]
    folders = seed_folders(protocol, name, repo)
    run = f"python -m seizure_lightning.benchmark run --setting {name} --seed SEED"
    lines = [f"### `{name}`", ""]
    if not folders:
        return [*lines, f"No report seed has run yet (`{run}`, SEED in "
                f"{', '.join(map(str, protocol.report_seeds))}).", ""]
    missing = [s for s in protocol.report_seeds if s not in folders]
    frames = {m: pooled(folders, m) for m in setting.models}
    anyf = next(iter(frames.values()))
    lines += [f"Report seeds {', '.join(map(str, folders))} pooled"
              + (f" ({len(missing)} of {len(protocol.report_seeds)} not run yet: "
                 f"{', '.join(map(str, missing))})" if missing else "")
              + f": {anyf['subject_id'].nunique()} patients, {len(anyf)} videos. `{run}`.", "",
              "| model | balanced accuracy [95% CI] | AUROC [95% CI] |", "| --- | --- | --- |"]
    for model, frame in frames.items():
        video = evaluate(frame, n_boot=N_BOOT)["video"]
        lines.append(f"| `{model}` | {figure_with_ci(video, 'balanced_accuracy')} | "
                     f"{figure_with_ci(video, 'auroc')} |")
    ratios = ", ".join(f"seed {s} {_pretext(f)}" for s, f in folders.items())
    lines += ["", f"Pretext ratio at the end of pre-training (`val/pretext/ratio`): {ratios}.", ""]
    return lines


def comparison_lines(protocol: Protocol, repo: Path) -> list[str]:
    """The protocol's paired comparisons, over the seeds both settings have run."""
    if not protocol.compare:
        return []
    lines = ["### Paired comparisons", "",
             "Paired patient bootstrap on the same videos, A − B [95% CI]:", ""]
    for a, b in protocol.compare:
        (sa, _, ma), (sb, _, mb) = a.partition("/"), b.partition("/")
        fa, fb = seed_folders(protocol, sa, repo), seed_folders(protocol, sb, repo)
        seeds = [s for s in fa if s in fb]
        if not seeds:
            lines.append(f"- `{a}` − `{b}`: no report seed has run for both")
            continue
        result = paired_difference(pooled({s: fa[s] for s in seeds}, ma),
                                   pooled({s: fb[s] for s in seeds}, mb), n_boot=N_BOOT)
        ba, auroc = result["balanced_accuracy"], result["auroc"]
        lines.append(f"- `{a}` − `{b}` ({len(seeds)} seeds, {result['n_subjects']} patients): "
                     f"balanced accuracy {with_ci(ba['difference'], ba['ci'], signed=True)}, "
                     f"AUROC {with_ci(auroc['difference'], auroc['ci'], signed=True)}")
    return [*lines, ""]


def protocol_section(protocol: Protocol, current: bool, repo: Path) -> list[str]:
    head = f"## Protocol `{protocol.id}`" + (" (current)" if current else "")
    lines = [head, "", f"Recipe commit `{protocol.recipe_commit}`, frozen on "
             f"{protocol.frozen_on}, hash `{protocol_hash(protocol)}`; report seeds "
             f"{', '.join(map(str, protocol.report_seeds))}; {protocol.epochs} fine-tuning "
             f"epochs per fold; every step with `{' '.join(protocol.common) or '(no extra)'}`.",
             ""]
    if protocol.note:
        lines += [protocol.note.strip(), ""]
    lines += ["| setting | what | models |", "| --- | --- | --- |"]
    lines += [f"| `{n}` | {s.what} | {', '.join(f'`{m}`' for m in s.models)} |"
              for n, s in protocol.settings.items()]
    lines.append("")
    if not any(seed_folders(protocol, name, repo) for name in protocol.settings):
        return [*lines, "No report seed of this protocol has run yet: `python -m "
                "seizure_lightning.benchmark run --setting SETTING --seed SEED`, SEED in "
                f"{', '.join(map(str, protocol.report_seeds))}.", ""]
    for name in protocol.settings:
        lines += setting_section(protocol, name, repo)
    return lines + comparison_lines(protocol, repo)


def earlier_section(repo: Path) -> list[str]:
    pooled_file = repo / EARLIER / "bench-seeds13-16_pooled.md"
    if not pooled_file.is_file():
        return []
    body = pooled_file.read_text().strip()
    return ["## Before the protocol file", "",
            "Report seeds 13 to 16 of the learning benchmark (`synth=bench`, 24 patients each), "
            "run once each under the Transformers' recipe of `a184228` (= `6d833d3` for `tiny` "
            "and its variants), pooled; every seed's own files and the commands: "
            "[results/earlier](results/earlier/README.md).", "", body, ""]


def render(protocols: ProtocolFile, repo: Path) -> str:
    """The whole page."""
    lines = ["# Results", "",
             f"<!-- written by `{COMMAND}` from docs/results/; do not edit -->", "",
             "The learning benchmark's report seeds, pooled over every report seed of a protocol "
             "that has run: each model's held-out videos of all LOSO folds, with "
             "patient-bootstrap 95% CIs. How a protocol is frozen and run: "
             "[evaluation](evaluation.md#frozen-protocols-and-report-seeds).", ""]
    order = [protocols.current, *[p for p in protocols.protocols if p != protocols.current]]
    for pid in order:
        lines += protocol_section(protocols.protocols[pid], pid == protocols.current, repo)
    lines += earlier_section(repo)
    return "\n".join(lines).rstrip() + "\n"
