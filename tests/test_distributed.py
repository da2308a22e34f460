"""Distributed training on CPU: Lightning's local DDP (``trainer=ddp_sim``, two gloo processes)
for pre-training and for a LOSO fold (test windows gathered from both ranks, no duplicates), two
"nodes" started by torchrun on loopback, and the refusal of local DDP inside a Hydra multirun.

Every subprocess runs in its own session and is killed with its children on timeout or failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import open_dict, read_write

from .conftest import compose_config

TIMEOUT = 300  # seconds for one distributed run (a tiny one takes ~15-40 s on 2 shared cores)
TINY = ("backbone=tiny", "backbone.allow_random_weights=true", "frames=tiny", "model=tiny",
        "logger=csv", "print_config=false", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "data.num_workers=0")


@dataclass
class Proc:
    returncode: int
    output: str


def run_group(commands: Sequence[Sequence[str]], cwd: Path, timeout: float = TIMEOUT) -> list[Proc]:
    """Run commands concurrently, each in its own process group; on timeout or when one fails,
    kill every group (their children included) and return what each printed."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", "OMP_NUM_THREADS": "1"}
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK"):
        env.pop(key, None)
    logs = [cwd / f"proc{i}.log" for i in range(len(commands))]
    procs = [
        subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=log.open("w"),
                         stderr=subprocess.STDOUT, start_new_session=True)
        for cmd, log in zip(commands, logs)
    ]
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(0.5)
    finally:
        for p in procs:  # the group: torchrun's workers, Lightning's child processes
            if p.poll() is None:
                with _suppress_missing():
                    os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)
    return [Proc(p.returncode, log.read_text()) for p, log in zip(procs, logs)]


class _suppress_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, *args) -> bool:
        return kind is ProcessLookupError


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "seizure_lightning", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ok(*procs: Proc) -> None:
    for p in procs:
        assert p.returncode == 0, p.output[-8000:]


def _loader_state(ckpt: Path) -> dict:
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return state["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]


def _only_run_dir(log_dir: Path, run_dir: Path) -> None:
    """Every rank wrote into the one run dir: no other run folder, one Hydra config folder."""
    assert [p.parent for p in log_dir.rglob("run_info.json")] == [run_dir]
    assert [p.parent for p in log_dir.rglob(".hydra")] == [run_dir]


# ---------------------------------------------------------------------------- launch guard
def _multirun_cfg(tmp_path: Path, *overrides: str):
    cfg = compose_config(tmp_path, ["+experiment=pretrain", *overrides])
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.mode = "MULTIRUN"
    from hydra.core.hydra_config import HydraConfig

    HydraConfig().set_config(cfg)
    return cfg


def test_local_ddp_in_multirun_is_refused(tmp_path: Path, monkeypatch) -> None:
    from seizure_lightning.engine.trainer import check_launch

    for key in ("LOCAL_RANK", "SLURM_PROCID", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    cfg = _multirun_cfg(tmp_path, "trainer=ddp_sim")
    with pytest.raises(RuntimeError, match="hydra/launcher=slurm") as err:
        check_launch(cfg)
    assert "trainer=ddp_sim" in str(err.value) and "without -m" in str(err.value)
    check_launch(_multirun_cfg(tmp_path, "trainer=cpu"))  # one process per job: fine
    monkeypatch.setenv("SLURM_PROCID", "0")  # processes started by SLURM: used as they are
    check_launch(_multirun_cfg(tmp_path, "trainer=ddp_sim"))


@pytest.mark.slow  # a fresh interpreter importing torch and Lightning: ~10 s here
def test_multirun_with_local_ddp_fails_before_any_work(tmp_path: Path, tiny_dataset: Path) -> None:
    [proc] = run_group([cli(
        "-m", "+experiment=pretrain", "trainer=ddp_sim", f"paths.root_dir={tmp_path}",
        f"data.manifest={tiny_dataset / 'contextual.csv'}", *TINY,
    )], tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "inside a Hydra multirun" in proc.output and "hydra/launcher=slurm" in proc.output
    assert not (tmp_path / "cache").exists()  # refused before the descriptor cache was built


# ---------------------------------------------------------------------------- ddp_sim
@pytest.mark.slow
def test_ddp_sim_pretrain(tmp_path: Path, shared_root: Path, tiny_dataset: Path) -> None:
    log_dir, run_dir = tmp_path / "logs", tmp_path / "logs" / "run"
    [proc] = run_group([cli(
        "+experiment=pretrain", "trainer=ddp_sim", f"paths.root_dir={shared_root}",
        f"paths.log_dir={log_dir}", f"hydra.run.dir={run_dir}",
        f"data.manifest={tiny_dataset / 'contextual.csv'}", "data.batch_size=1",
        "trainer.max_epochs=2", *TINY,
    )], tmp_path)
    _ok(proc)
    # Lightning re-ran the command for rank 1 with hydra.run.dir pinned to this run dir
    child_log = (run_dir / "train_ddp_process_1.log").read_text()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in child_log
    _only_run_dir(log_dir, run_dir)
    assert (run_dir / "encoder.pt").is_file() and (run_dir / "metrics.json").is_file()
    assert _loader_state(run_dir / "checkpoints" / "last.ckpt")["num_replicas"] == 2


@pytest.mark.slow
def test_ddp_sim_fold_predictions_without_duplicates(
    tmp_path: Path, shared_root: Path, tiny_dataset: Path
) -> None:
    from seizure_lightning.data.windows import window_starts

    manifest = pd.read_csv(tiny_dataset / "seizures.csv")
    subject = sorted(manifest.subject_id)[0]
    log_dir, run_dir = tmp_path / "logs", tmp_path / "logs" / "fold"
    window, stride, fps = 64, 75, 25.0  # several windows per video, an odd count is padded
    [proc] = run_group([cli(
        "+experiment=loso", f"data.test_subject={subject}", "trainer=ddp_sim",
        f"paths.root_dir={shared_root}", f"paths.log_dir={log_dir}", f"hydra.run.dir={run_dir}",
        f"data.manifest={tiny_dataset / 'seizures.csv'}", "data.batch_size=2",
        f"data.window={window}", f"data.test_stride={stride}", f"data.train_stride={window}",
        f"frames.fps={fps}", "trainer.max_epochs=1", *TINY, "model=tiny_scratch",
    )], tmp_path)
    _ok(proc)
    _only_run_dir(log_dir, run_dir)
    preds = pd.read_csv(run_dir / "predictions.csv")
    expected = sorted(manifest.video_id[manifest.subject_id == subject])
    assert sorted(preds.video_id) == expected  # every test video exactly once
    windows = pd.read_csv(run_dir / "windows.csv")
    assert not windows.duplicated(["video_id", "window"]).any()
    for video_id, rows in windows.groupby("video_id"):  # all windows of each video, from both ranks
        frames = round(rows.end_s.max() * fps)
        starts = sorted(round(s * fps) for s in rows.start_s)
        assert starts == window_starts(frames, window, stride), video_id
    assert (run_dir / "summary.json").is_file()


# ---------------------------------------------------------------------------- torchrun, 2 nodes
@pytest.mark.slow
def test_torchrun_two_nodes_on_loopback(tmp_path: Path, shared_root: Path,
                                        tiny_dataset: Path) -> None:
    log_dir, run_dir = tmp_path / "logs", tmp_path / "logs" / "run"
    port = free_port()
    args = [
        "+experiment=pretrain", "trainer=ddp_multinode", "trainer.accelerator=cpu",
        "trainer.devices=1", "trainer.num_nodes=2", "trainer.precision=32-true",
        f"paths.root_dir={shared_root}", f"paths.log_dir={log_dir}", f"hydra.run.dir={run_dir}",
        f"data.manifest={tiny_dataset / 'contextual.csv'}", "data.batch_size=1",
        "trainer.max_epochs=2", *TINY,
    ]
    nodes = [
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
         f"--node-rank={rank}", "--master-addr=127.0.0.1", f"--master-port={port}",
         "--max-restarts=0", "-m", "seizure_lightning", *args]
        for rank in (0, 1)
    ]
    procs = run_group(nodes, tmp_path)
    _ok(*procs)
    for rank, proc in enumerate(procs):
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in proc.output
    _only_run_dir(log_dir, run_dir)
    assert (run_dir / "encoder.pt").is_file()
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and not any(p.endswith(".tmp") for p in ckpts)
    assert _loader_state(run_dir / "checkpoints" / "last.ckpt")["num_replicas"] == 2
