"""Real data gets real descriptors: a user's manifest with a random-weight backbone is refused
before anything is read, with one message and exit 65, unless the user opts in; the synthetic
default needs no opt-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from seizure_lightning.data.base import RandomWeightsError, check_backbone_weights
from seizure_lightning.data.contextual import ContextualClipDataModule
from seizure_lightning.data.seizure import SeizureVideoDataModule
from tests.conftest import run_cli

RANDOM = {"arch": "resnet18", "weights": None, "device": "cpu"}


def test_random_weights_on_a_manifest_are_refused_unless_asked_for() -> None:
    with pytest.raises(RandomWeightsError, match=r"RANDOM-WEIGHT resnet18.*allow_random_weights"):
        check_backbone_weights("/data/emu/seizures.csv", RANDOM)
    check_backbone_weights("/data/emu/seizures.csv", {**RANDOM, "allow_random_weights": True})
    check_backbone_weights(None, RANDOM)  # the synthetic default: random weights on purpose
    check_backbone_weights("/data/emu/seizures.csv", {**RANDOM, "weights": "IMAGENET1K_V1"})


@pytest.mark.parametrize("module", [SeizureVideoDataModule, ContextualClipDataModule])
def test_every_data_module_checks_when_it_is_built(module, caplog) -> None:
    """Every task that extracts or reads descriptors builds a data module: the check is there."""
    with pytest.raises(RandomWeightsError):
        module(manifest="/data/emu/videos.csv", backbone=RANDOM)
    module(manifest="/data/emu/videos.csv", backbone={**RANDOM, "allow_random_weights": True})
    dm = module(backbone=RANDOM)  # synthetic default
    with caplog.at_level("INFO", logger="seizure_lightning.data.base"):
        dm.describe_descriptors({**RANDOM, "precision": "fp32"})
    assert "weights random" in caplog.text and "fp32 extraction" in caplog.text


def _manifest(tmp_path: Path) -> Path:
    """Two subjects whose videos do not exist: the refusal comes before any file is read."""
    path = tmp_path / "seizures.csv"
    path.write_text("video_id,subject_id,label,path\nA,P1,ES,a.mp4\nB,P2,PNES,b.mp4\n")
    return path


@pytest.mark.parametrize("command", [["+experiment=preprocess"], ["-m", "+experiment=loso"]],
                         ids=["preprocess", "loso sweep"])
def test_the_cli_refuses_with_one_message_and_exit_65(tmp_path: Path, command: list[str]) -> None:
    args = [*command, f"data.manifest={_manifest(tmp_path)}", f"paths.root_dir={tmp_path}",
            "logger=none", "print_config=false"]
    done = run_cli(args, cwd=tmp_path, env={"HYDRA_FULL_ERROR": "0"})
    assert done.returncode == 65, done.stderr[-3000:]
    assert done.stderr.count("error: ") == 1 and "backbone.allow_random_weights=true" in done.stderr
    assert "Traceback" not in done.stderr and "a.mp4" not in done.stderr
    assert not (tmp_path / "logs" / "loso").exists()  # no fold started
