"""The frozen benchmark protocol: refusals, the hash in every result, and ``docs/results.md``
written from the results of the protocol's report seeds only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from seizure_lightning.benchmark import runner
from seizure_lightning.benchmark.__main__ import REFUSED, main
from seizure_lightning.benchmark.protocol import (
    ProtocolError,
    check_frozen,
    load_protocols,
    protocol_hash,
)
from seizure_lightning.benchmark.results import render

REPO_ROOT = Path(__file__).resolve().parents[1]

PROTOCOL = """\
current: p2
retired_seeds: [9]
protocols:
  p1:
    recipe_commit: {commit}
    frozen_on: 2026-01-01
    report_seeds: [5]
    settings:
      standard: {{what: old, models: [good]}}
  p2:
    recipe_commit: {commit}
    frozen_on: 2026-02-01
    report_seeds: [17, 18]
    epochs: 3
    common: [cpu_isa=avx2]
    settings:
      standard: {{what: as shipped, models: [good, bad]}}
      other:
        what: another setting
        synth: [synth.envelope_swap=0.5]
        models: [good]
    compare:
      - [standard/good, standard/bad]
      - [standard/good, other/good]
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git repository with a recipe (package + conf) and a protocol frozen at its commit."""
    root = tmp_path / "repo"
    for path, text in {"seizure_lightning/model.py": "A = 1\n", "conf/model.yaml": "a: 1\n",
                       "docs/notes.md": "notes\n"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    _git(root.parent, "init", "-q", str(root))
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "recipe")
    commit = _git(root, "rev-parse", "HEAD")
    (root / "experiments").mkdir()
    (root / "experiments/protocol.yaml").write_text(PROTOCOL.format(commit=commit[:10]))
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "protocol")
    return root


def _fake_sweep(good: bool = True):
    """An executor that writes what a sweep leaves: predictions per model, pretrain metrics."""
    def execute(command: list[str]) -> int:
        if "-m" in command and "+experiment=loso" in command:
            name = next(c.split("=", 1)[1] for c in command if c.startswith("loso.name="))
            root = Path(next(c.split("=", 1)[1] for c in command
                             if c.startswith("paths.root_dir=")))
            models = next(c.split("=", 1)[1] for c in command if c.startswith("model="))
            for model in models.split(","):
                rows = []
                for i in range(4):
                    p = (0.9 if i % 2 else 0.1) if model == "good" else (0.1 if i % 2 else 0.9)
                    rows.append({"video_id": f"SZ{i}", "subject_id": f"P{i}",
                                 "label": "PNES" if i % 2 else "ES",
                                 "pred": "PNES" if p > 0.5 else "ES", "p_ES": 1 - p,
                                 "p_PNES": p, "fold": f"P{i}"})
                out = root / "logs/loso" / name / model
                out.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows).to_csv(out / "predictions.csv", index=False)
        if any(c.startswith("+experiment=pretrain") for c in command):
            run_dir = Path(next(c.split("=", 1)[1] for c in command
                                if c.startswith("hydra.run.dir=")))
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "metrics.json").write_text(json.dumps({"val/pretext/ratio": 0.75}))
        return 0 if good else 1
    return execute


def test_repository_protocol_is_valid() -> None:
    protocols = load_protocols(REPO_ROOT / "experiments/protocol.yaml")
    current = protocols.current_protocol
    assert current.report_seeds and len(protocol_hash(current)) == 12
    assert not set(current.report_seeds) & set(protocols.retired_seeds)
    assert re.fullmatch(r"[0-9a-f]{7,40}", current.recipe_commit), current.recipe_commit
    known = subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e",
                            f"{current.recipe_commit}^{{commit}}"], capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"recipe commit {current.recipe_commit} is not in this clone (shallow?)")


def test_report_and_development_seeds(repo: Path, tmp_path: Path) -> None:
    protocols = load_protocols(repo / "experiments/protocol.yaml")
    report = runner.plan_run(protocols, "standard", 17, tmp_path)
    dev = runner.plan_run(protocols, "standard", 3, tmp_path, extra=["synth.subjects_es=4"])
    assert report.report and report.name == "p2-standard-seed17"
    assert not dev.report and dev.name == "dev-standard-seed3"
    with pytest.raises(ProtocolError, match="retired_seeds"):
        runner.plan_run(protocols, "standard", 9, tmp_path)
    with pytest.raises(ProtocolError, match="report seed of protocol p1"):
        runner.plan_run(protocols, "standard", 5, tmp_path)
    with pytest.raises(ProtocolError, match="extra overrides"):
        runner.plan_run(protocols, "standard", 17, tmp_path, extra=["synth.subjects_es=4"])
    with pytest.raises(ProtocolError, match="no setting 'nope'"):
        runner.plan_run(protocols, "nope", 3, tmp_path)


def test_commands_are_the_benchmark_steps(repo: Path, tmp_path: Path) -> None:
    protocols = load_protocols(repo / "experiments/protocol.yaml")
    plan = runner.plan_run(protocols, "other", 18, tmp_path)
    synth, pretrain, loso, diagnose = runner.commands(plan)
    assert "+experiment=synthesize" in synth and "synth.seed=18" in synth
    assert "synth.envelope_swap=0.5" in pretrain and "cpu_isa=avx2" in loso
    assert "model=good" in loso and "trainer.max_epochs=3" in loso and "loso=recipe" in loso
    assert diagnose[-1].endswith("p2-other-seed18/diagnostics.md")


def test_frozen_tree_and_refusals(repo: Path) -> None:
    protocol = load_protocols(repo / "experiments/protocol.yaml").current_protocol
    assert check_frozen(protocol, repo) == _git(repo, "rev-parse", "HEAD")
    (repo / "docs/notes.md").write_text("more notes\n")  # not a recipe path
    check_frozen(protocol, repo)
    (repo / "conf/model.yaml").write_text("a: 2\n")
    with pytest.raises(ProtocolError, match=r"working tree differs.*conf/model\.yaml"):
        check_frozen(protocol, repo)
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "change")
    with pytest.raises(ProtocolError, match=r"HEAD differs in conf/model\.yaml"):
        check_frozen(protocol, repo)
    _git(repo, "revert", "--no-edit", "HEAD")
    check_frozen(protocol, repo)
    (repo / "seizure_lightning/new.py").write_text("B = 2\n")  # untracked counts too
    with pytest.raises(ProtocolError, match=r"seizure_lightning/new\.py"):
        check_frozen(protocol, repo)


def test_report_run_stores_its_hash_once(repo: Path, tmp_path: Path) -> None:
    protocols = load_protocols(repo / "experiments/protocol.yaml")
    plan = runner.plan_run(protocols, "standard", 17, tmp_path / "root")
    out = runner.run(plan, repo, execute=_fake_sweep())
    record = json.loads((out / "protocol.json").read_text())
    assert out == repo / "docs/results/protocols/p2/standard/seed17"
    assert record["protocol_hash"] == protocol_hash(protocols.current_protocol)
    assert record["kind"] == "report" and record["commit"] == _git(repo, "rev-parse", "HEAD")
    assert {p.name for p in out.iterdir()} >= {"good.csv", "bad.csv", "pretrain_metrics.json"}
    with pytest.raises(ProtocolError, match="runs once"):
        runner.run(plan, repo, execute=_fake_sweep())
    dev = runner.plan_run(protocols, "standard", 3, tmp_path / "root")
    assert runner.run(dev, repo, execute=_fake_sweep()) == dev.sweep_dir
    assert not (repo / "docs/results/protocols/p2/standard/seed3").exists()
    failed = runner.plan_run(protocols, "standard", 18, tmp_path / "root")
    with pytest.raises(ProtocolError, match="step failed"):
        runner.run(failed, repo, execute=_fake_sweep(good=False))
    assert not failed.results_dir(repo).exists()


def test_results_pool_every_report_seed_and_check_the_hash(repo: Path, tmp_path: Path) -> None:
    protocols = load_protocols(repo / "experiments/protocol.yaml")
    for seed in (17, 18):
        runner.run(runner.plan_run(protocols, "standard", seed, tmp_path), repo,
                   execute=_fake_sweep())
    page = render(protocols, repo)
    assert "Report seeds 17, 18 pooled: 8 patients, 8 videos" in page
    assert "| `good` | 1.000 [1.000, 1.000]" in page and "| `bad` | 0.000 [0.000, 0.000]" in page
    assert "`standard/good` − `standard/bad` (2 seeds, 8 patients): balanced accuracy +1.000" in page
    assert "`standard/good` − `other/good`: no report seed has run for both" in page
    assert "No report seed has run yet" in page  # setting `other`, and protocol p1
    assert page.index("## Protocol `p2` (current)") < page.index("## Protocol `p1`")
    assert main(["--repo", str(repo), "results"]) == 0
    assert main(["--repo", str(repo), "results", "--check"]) == 0
    # a protocol edited after its runs: the results no longer carry its hash
    text = (repo / "experiments/protocol.yaml").read_text()
    (repo / "experiments/protocol.yaml").write_text(text.replace("epochs: 3", "epochs: 4"))
    with pytest.raises(ProtocolError, match="protocol hash"):
        render(load_protocols(repo / "experiments/protocol.yaml"), repo)


def test_a_seed_that_is_not_a_report_seed_cannot_enter_the_page(repo: Path) -> None:
    protocols = load_protocols(repo / "experiments/protocol.yaml")
    folder = repo / "docs/results/protocols/p2/standard/seed3"
    folder.mkdir(parents=True)
    (folder / "protocol.json").write_text(json.dumps({"seed": 3}))
    with pytest.raises(ProtocolError, match="seed 3 is not a report seed"):
        render(protocols, repo)


def test_two_protocols_sharing_a_seed_are_refused(repo: Path) -> None:
    path = repo / "experiments/protocol.yaml"
    path.write_text(path.read_text().replace("report_seeds: [5]", "report_seeds: [17]"))
    with pytest.raises(ProtocolError, match="seed 17 is a report seed of protocol"):
        load_protocols(path)


def test_refusal_is_one_line_and_exit_3(repo: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "seizure_lightning.benchmark", "--repo",
                           str(repo), "run", "--setting", "standard", "--seed", "9", "--dry-run"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == REFUSED
    assert done.stderr.startswith("refused: seed 9") and "Traceback" not in done.stderr


def test_results_page_is_written_from_the_results_files() -> None:
    """docs/results.md is what ``python -m seizure_lightning.benchmark results`` writes now."""
    assert main(["--repo", str(REPO_ROOT), "results", "--check"]) == 0
