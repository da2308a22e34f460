"""README.md's Walkthrough, command by command as printed, on the tiny synthetic data.

The commands are read from the README's code block (so the test breaks when the README does) and
run verbatim; only the placeholders are filled in ($M, <run id>, <dataset>, new.mp4/new.csv, the
subject) and the paper's sizes are shrunk through an overlay of the config folder
(``SEIZURE_LIGHTNING_CONFIG_DIR``): ResNet-18 with random weights for ResNet-152, small frames, a
tiny Transformer for ``model=paper``, the CPU for ``trainer=gpu``, a random-weight detector.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT

OVERLAY = {
    "backbone/resnet152.yaml": """arch: resnet18
weights: null
allow_random_weights: true
dim: ${sl.feature_dim:${backbone.arch}}
batch_size: 64
precision: auto
channels_last: true
device: auto
num_workers: 0
""",
    "frames/paper.yaml": """fps: 25.0
resize: [64, 85]
crop: 56
mean: [0.485, 0.456, 0.406]
std: [0.229, 0.224, 0.225]
box_margin: 0.1
box_smooth_frames: 5
decoder: auto
""",
    "trainer/gpu.yaml": """defaults:
  - default
  - _self_
accelerator: cpu
devices: 1
enable_progress_bar: false
enable_model_summary: false
""",
}


def walkthrough_commands(readme: str) -> list[str]:
    """The shell commands of the README's Walkthrough block (continuations joined, comments
    and the variable assignment dropped)."""
    section = readme.split("## Walkthrough", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        line = re.sub(r"\s+#.*$", "", line)
        if line and not re.match(r"^[A-Z]+=", line):
            commands.append(line)
    return commands


def overlay_config(tmp: Path) -> Path:
    conf = tmp / "conf"
    shutil.copytree(REPO_ROOT / "conf", conf)
    for rel, text in OVERLAY.items():
        (conf / rel).write_text(text)
    paper = (conf / "model" / "paper.yaml").read_text()
    paper = re.sub(r"d_model: \d+", "d_model: 16", paper)
    paper = re.sub(r"num_layers: \d+", "num_layers: 1", paper)
    paper = re.sub(r"num_heads: \d+", "num_heads: 2", paper)
    paper = re.sub(r"ffn_dim: \d+", "ffn_dim: 32", paper)
    (conf / "model" / "paper.yaml").write_text(paper)
    detect = (conf / "experiment" / "detect.yaml").read_text()
    (conf / "experiment" / "detect.yaml").write_text(
        detect.replace("weights: DEFAULT", "weights: null"))
    # epochs: a smoke run (the LOSO folds train finetune.yaml's max_epochs)
    for exp in ("paper/pretrain.yaml", "pretrain.yaml", "finetune.yaml"):
        path = conf / "experiment" / exp
        text = re.sub(r"max_epochs: \d+", "max_epochs: 2", path.read_text())
        path.write_text(text.replace("num_workers: 8", "num_workers: 0"))
    return conf


@pytest.mark.slow
def test_readme_walkthrough_runs_verbatim(tmp_path: Path, shared_root: Path) -> None:
    from seizure_lightning.synthetic import ensure_dataset

    # contextual video of two seizure-free patients: pre-training sees no LOSO test subject
    tiny_dataset = ensure_dataset(shared_root / "data", preset="tiny", seed=0,
                                  contextual_subjects=2)
    commands = walkthrough_commands((REPO_ROOT / "README.md").read_text())
    assert len(commands) == 9, commands
    env_conf = overlay_config(tmp_path)
    env = {"SEIZURE_LIGHTNING_CONFIG_DIR": str(env_conf), "WANDB_MODE": "offline",
           "WANDB_SILENT": "true", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
           "HYDRA_FULL_ERROR": "1", "SEIZURE_LIGHTNING_PROGRESS": "off"}
    work = tmp_path / "work"
    work.mkdir()
    seizures = pd.read_csv(tiny_dataset / "seizures.csv")
    subject = seizures.subject_id.iloc[0]
    new = seizures.iloc[0]
    shutil.copy(tiny_dataset / new.path, work / "new.mp4")
    shutil.copy(tiny_dataset / new.boxes, work / "new.csv")
    values = {"$M": str(tiny_dataset), "P07": subject}
    for command in commands:
        if "<run id>" in command:
            runs = sorted((work / "logs" / "pretrain" / "runs").iterdir())
            values["<run id>"] = runs[-1].name
        if "<dataset>" in command:
            values["<dataset>"] = next((work / "logs" / "loso").iterdir()).name
        for key, value in values.items():
            command = command.replace(key, value)
        argv = shlex.split(command)
        assert argv[0] == "python", command
        done = subprocess.run([sys.executable, *argv[1:]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"{command}\n{done.stderr[-4000:]}"
    sweep = work / "logs" / "loso" / values["<dataset>"]
    for model in ("paper", "paper_scratch", "lstm", "meanpool_linear"):
        assert (sweep / model / "report.md").is_file()
    assert (work / "report" / "report.md").is_file()
    predictions = sorted((work / "logs" / "predict" / "runs").glob("*/prediction.json"))
    result = json.loads(predictions[-1].read_text())
    assert result["label"] in ("ES", "PNES") and 0.0 <= result["p_PNES"] <= 1.0


def test_walkthrough_block_parses() -> None:
    """The fast half: the Walkthrough is still nine commands of this CLI (the slow test runs
    them); the new video is predicted by the model trained on every patient."""
    commands = walkthrough_commands((REPO_ROOT / "README.md").read_text())
    assert len(commands) == 9
    assert all(c.startswith("python -m seizure_lightning") for c in commands)
    train_all, predict = commands[-2:]
    assert "+experiment=train_all" in train_all and "+experiment=predict" in predict
    assert "predict.subject" not in predict and "predict.ckpt" not in predict
