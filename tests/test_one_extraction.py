"""One extraction serves the whole Walkthrough: the descriptor cache a preprocess step writes is
the one pre-training and the LOSO sweep read (the same cache key), for the commands as README.md
and experiments/slurm/README.md print them (composed with Hydra's compose API, nothing trained).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra.utils import instantiate

from seizure_lightning.data.feature_cache import cache_key
from tests.conftest import REPO_ROOT, compose_config
from tests.test_walkthrough import walkthrough_commands

SLURM_README = REPO_ROOT / "experiments" / "slurm" / "README.md"
# placeholders of the printed commands that a composed config takes as they are
PLACEHOLDERS = {"$SLURM_NNODES": "6", "$SLURM_NTASKS_PER_NODE": "8"}


def slurm_commands(text: str) -> list[str]:
    """The ``seizure_lightning`` command lines of the SLURM README's bash blocks (continuations
    joined; sbatch scripts, torchrun and launcher sweeps alike)."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [line.strip() for line in joined.splitlines() if "seizure_lightning " in line]
    return lines


def overrides(command: str, values: dict[str, str]) -> list[str]:
    """The config overrides of a printed command: what follows ``seizure_lightning``, with the
    placeholders filled in, the first value of a sweep (``a,b`` -> ``a``), and neither ``-m`` nor
    the Hydra / path settings (where a job runs and writes does not key a cache); none for the
    package's other entry points."""
    for key, value in {**PLACEHOLDERS, **values}.items():
        command = command.replace(key, value)
    command = re.sub(r"<[^>]+>", "placeholder", command)  # <run id>, <job id>
    argv = shlex.split(command)
    if "seizure_lightning" not in argv:  # another entry point (the report, diagnose)
        return []
    argv = argv[argv.index("seizure_lightning") + 1:]
    kept = []
    for arg in argv:
        if arg == "-m" or arg.startswith(("hydra", "paths.")):
            continue
        key, _, value = arg.partition("=")
        kept.append(f"{key}={value.split(',')[0]}" if "," in value else arg)
    return kept


def descriptor_cache(tmp_path: Path, root: Path, args: list[str]) -> tuple[str, str]:
    """(experiment, cache folder name) of the data module a command builds."""
    cfg = compose_config(tmp_path, args, shared_root=root)
    datamodule = instantiate(cfg.data, _convert_="all")
    key = cache_key(datamodule.records, datamodule.extraction().meta())
    experiment = next(a for a in args if a.startswith("+experiment=")).split("=", 1)[1]
    return experiment, f"{datamodule.kind}/{key}"


def keys_by_step(tmp_path: Path, root: Path, commands: list[str], values: dict[str, str],
                 ) -> dict[str, set[str]]:
    """``{"preprocess seizures": {key}, "paper/pretrain": {key}, ...}`` over the commands that
    build descriptors (detect and predict do not read a cache; train_all reads the one of its
    sweep's folds, with their saved config)."""
    steps: dict[str, set[str]] = {}
    for i, command in enumerate(commands):
        args = overrides(command, values)
        if not any(a.startswith("+experiment=") for a in args) or any(
                a in ("+experiment=detect", "+experiment=predict", "+experiment=train_all")
                for a in args):
            continue
        experiment, key = descriptor_cache(tmp_path / f"c{i}", root, args)
        name = f"preprocess {key.split('/')[0]}" if experiment.endswith("preprocess") else experiment
        steps.setdefault(name, set()).add(key)
    return steps


def test_walkthrough_extracts_once(tmp_path: Path, shared_root: Path, tiny_dataset: Path) -> None:
    commands = walkthrough_commands((REPO_ROOT / "README.md").read_text())
    steps = keys_by_step(tmp_path, shared_root, commands, {"$M": str(tiny_dataset)})
    assert set(steps) == {"preprocess seizures", "preprocess contextual", "paper/pretrain",
                          "paper/loso"}, steps
    assert all(len(keys) == 1 for keys in steps.values()), steps
    assert steps["paper/pretrain"] == steps["preprocess contextual"]  # step 1 -> step 2
    assert steps["paper/loso"] == steps["preprocess seizures"]  # step 1 -> step 3


def test_slurm_recipe_extracts_once(tmp_path: Path, shared_root: Path,
                                    tiny_dataset: Path) -> None:
    commands = slurm_commands(SLURM_README.read_text())
    # the README's "do the same with data=seizures data.manifest=$M/seizures.csv"
    seizures = [c.replace("data=contextual", "data=seizures").replace("contextual.csv",
                                                                       "seizures.csv")
                for c in commands if "data=contextual" in c]
    steps = keys_by_step(tmp_path, shared_root, commands + seizures, {"$M": str(tiny_dataset)})
    assert set(steps) == {"preprocess seizures", "preprocess contextual", "paper/pretrain",
                          "paper/loso"}, steps
    assert len(steps["preprocess contextual"]) == 1, steps  # sbatch and job array alike
    assert steps["paper/pretrain"] == steps["preprocess contextual"]  # sbatch, submitit, torchrun
    assert steps["paper/loso"] == steps["preprocess seizures"]


def test_the_framework_default_shares_its_crops_too(cfg_factory) -> None:
    """Without paper/*, ``+experiment=preprocess data=contextual`` caches the crops
    ``+experiment=pretrain`` reads (the crops group both compose)."""
    pre = cfg_factory("+experiment=preprocess", "data=contextual", tiny=False)
    train = cfg_factory("+experiment=pretrain", tiny=False)
    for cfg in (pre, train):
        assert (cfg.data.crop_mode, cfg.data.n_crops) == ("fixed_k", 4)
    assert pre.backbone == train.backbone and pre.frames == train.frames


@pytest.mark.parametrize("command", ["+experiment=paper/preprocess data=contextual",
                                     "+experiment=paper/pretrain"])
def test_paper_crops_are_the_papers_random_crop(cfg_factory, command: str) -> None:
    cfg = cfg_factory(*command.split(), tiny=False)
    assert cfg.data.crop_mode == "random" and cfg.backbone.arch == "resnet152"
    assert cfg.frames.crop == 112
