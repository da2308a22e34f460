"""Run one benchmark setting on one seed: generate, pre-train, LOSO sweep, diagnostics, then
(report seeds only) copy what the results need into the repository's results folder.

The steps are the framework's own commands (``python -m seizure_lightning ...``), each in a
fresh process, exactly as ``make loso-bench`` prints them; ``--dry-run`` prints them only.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from seizure_lightning.benchmark.protocol import (
    Protocol,
    ProtocolError,
    ProtocolFile,
    Setting,
    check_frozen,
    head_commit,
    protocol_hash,
)
from seizure_lightning.utils.cpu_isa import NUMPY_ENV
from seizure_lightning.utils.io import atomic_copy, atomic_dir, atomic_write_json

#: where report results are kept in the repository (one folder per protocol/setting/seed)
RESULTS_DIR = Path("docs/results/protocols")
#: the file that marks a finished run, in the sweep folder and in the results folder
RUN_FILE = "protocol.json"


@dataclass(frozen=True)
class Plan:
    """What one run of a setting on a seed is: report or development, where it writes."""

    protocol: Protocol
    setting: Setting
    seed: int
    report: bool
    root: Path
    extra: tuple[str, ...] = ()
    jobs: int = 2

    @property
    def name(self) -> str:
        prefix = self.protocol.id if self.report else "dev"
        return f"{prefix}-{self.setting.name}-seed{self.seed}"

    @property
    def sweep_dir(self) -> Path:
        return self.root / "logs" / "loso" / self.name

    @property
    def pretrain_dir(self) -> Path:
        return self.root / "logs" / self.name / "pretrain"

    def results_dir(self, repo: Path) -> Path:
        return repo / RESULTS_DIR / self.protocol.id / self.setting.name / f"seed{self.seed}"


def plan_run(protocols: ProtocolFile, setting: str, seed: int, root: Path, *,
             extra: Sequence[str] = (), jobs: int = 2) -> Plan:
    """The run of ``setting`` on ``seed``: a report run when ``seed`` is a report seed of the
    current protocol, a development run when no protocol names it; refused otherwise (a report
    seed of an earlier protocol or of the retired list), and refused with ``extra`` overrides on
    a report seed."""
    owner = protocols.owner_of(seed)
    current = protocols.current_protocol
    if seed in protocols.retired_seeds:
        raise ProtocolError(f"seed {seed} was a report seed before the protocol file "
                            "(retired_seeds): pick another seed")
    if owner is not None and owner.id != current.id:
        raise ProtocolError(f"seed {seed} is a report seed of protocol {owner.id}, not of the "
                            f"current protocol {current.id}: a report seed runs once, under its "
                            "own protocol")
    if owner is not None and extra:
        raise ProtocolError(f"seed {seed} is a report seed of protocol {owner.id}: extra "
                            f"overrides {list(extra)} are not part of it")
    return Plan(protocol=current, setting=current.setting(setting), seed=seed,
                report=owner is not None, root=root, extra=tuple(extra), jobs=jobs)


def commands(plan: Plan) -> list[list[str]]:
    """The framework's commands for ``plan``: synthesize, pre-train, LOSO sweep, diagnostics."""
    p, s = plan.protocol, plan.setting
    base = [sys.executable, "-m", "seizure_lightning"]
    data = [f"synth={s.preset}", f"synth.seed={plan.seed}", *s.synth,
            f"paths.root_dir={plan.root}", *p.common, *plan.extra]
    return [
        [*base, "+experiment=synthesize", *data],
        [*base, f"+experiment={s.pretrain}", *data, f"threads={p.pretrain_threads}",
         f"hydra.run.dir={plan.pretrain_dir}"],
        [*base, "-m", "+experiment=loso", *data, f"loso={s.loso}", f"loso.name={plan.name}",
         f"pretrained={plan.pretrain_dir / 'encoder.pt'}", f"model={','.join(s.models)}",
         *s.loso_overrides, "hydra/launcher=joblib", f"hydra.launcher.n_jobs={plan.jobs}",
         "threads=1", f"trainer.max_epochs={p.epochs}"],
        [sys.executable, "-m", "seizure_lightning.loso.diagnose", str(plan.sweep_dir),
         "--out", str(plan.sweep_dir / "diagnostics.md")],
    ]


def _shell(command: Sequence[str]) -> str:
    return shlex.join(["python" if c == sys.executable else c for c in command])


def run_record(plan: Plan, commit: str, wall_s: float) -> dict:
    """What ``protocol.json`` says about a finished run."""
    return {
        "protocol": plan.protocol.id, "protocol_hash": protocol_hash(plan.protocol),
        "kind": "report" if plan.report else "development", "setting": plan.setting.name,
        "seed": plan.seed, "commit": commit, "recipe_commit": plan.protocol.recipe_commit,
        "models": list(plan.setting.models), "extra_overrides": list(plan.extra),
        "commands": [_shell(c) for c in commands(plan)], "wall_s": round(wall_s, 1),
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version()},
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def store_results(plan: Plan, repo: Path, record: dict) -> Path:
    """Copy into the results folder what ``benchmark results`` reads: each model's held-out
    ``predictions.csv``, the sweep's ``summary.md`` and ``comparisons.json``, the pre-training's
    ``metrics.json`` and the run's record; the folder appears whole or not at all."""
    target = plan.results_dir(repo)
    with atomic_dir(target) as tmp:
        for model in plan.setting.models:
            source = plan.sweep_dir / model / "predictions.csv"
            if not source.is_file():
                raise ProtocolError(f"{source}: the sweep has no predictions of {model}")
            atomic_copy(source, tmp / f"{model}.csv")
        for name in ("summary.md", "comparisons.json", "diagnostics.md"):
            if (plan.sweep_dir / name).is_file():
                atomic_copy(plan.sweep_dir / name, tmp / name)
        if (plan.pretrain_dir / "metrics.json").is_file():
            atomic_copy(plan.pretrain_dir / "metrics.json", tmp / "pretrain_metrics.json")
        atomic_write_json(tmp / RUN_FILE, record)
    return target


Executor = Callable[[list[str]], int]


def step_env(command: Sequence[str]) -> dict[str, str]:
    """The environment of a step: wandb offline unless set, and with ``cpu_isa=<isa>`` NumPy's
    kernels capped at ``isa`` (read at its import, so set before the process starts)."""
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    for arg in command:
        if arg.startswith("cpu_isa=") and arg.split("=", 1)[1] in NUMPY_ENV:
            env.update(NUMPY_ENV[arg.split("=", 1)[1]])
    return env


def _execute(command: list[str]) -> int:
    print(f"\n$ {_shell(command)}", flush=True)
    return subprocess.run(command, env=step_env(command)).returncode


def run(plan: Plan, repo: Path, *, execute: Executor = _execute) -> Path:
    """Run ``plan``; a report run only from a frozen tree, only once, its results stored in the
    repository. Returns the sweep folder (development) or the results folder (report)."""
    commit = check_frozen(plan.protocol, repo) if plan.report else _head_or_unknown(repo)
    if plan.report and plan.results_dir(repo).exists():
        raise ProtocolError(f"{plan.results_dir(repo)} exists: report seed {plan.seed} of "
                            f"{plan.setting.name} has run under protocol {plan.protocol.id}; a "
                            "report seed runs once")
    start = time.monotonic()
    for command in commands(plan):
        code = execute(command)
        if code != 0:
            raise ProtocolError(f"step failed (exit {code}): {_shell(command)}; rerun the same "
                                "command to resume (finished folds are kept)")
    record = run_record(plan, commit, time.monotonic() - start)
    atomic_write_json(plan.sweep_dir / RUN_FILE, record)
    if plan.report:
        return store_results(plan, repo, record)
    return plan.sweep_dir


def _head_or_unknown(repo: Path) -> str:
    try:
        return head_commit(repo)
    except ProtocolError:
        return "unknown"


def dry_run(plan: Plan) -> str:
    kind = (f"report seed of protocol {plan.protocol.id} "
            f"(hash {protocol_hash(plan.protocol)})" if plan.report else "development seed")
    lines = [f"# {plan.setting.name}, seed {plan.seed}: {kind}"]
    lines += [_shell(c) for c in commands(plan)]
    return "\n".join(lines)
