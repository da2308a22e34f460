"""Fault tolerance: a run killed with SIGKILL in the middle of an epoch and started again with the
same command ends with the same weights as a run that was never interrupted; the resumed run keeps
its wandb run id. Plus fast checks of the pieces (loader state, atomic checkpoints, resume choice).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from .conftest import REPO_ROOT, run_cli

RUN_TIMEOUT = 300  # seconds per CLI run (a tiny run takes ~15-30 s on a shared 2-core machine)


class KillAtStep(pl.Callback):
    """Test helper: SIGKILL this very process at the end of training step ``step`` (before that
    step's checkpoint is written), like ``kill -9`` from outside at that moment."""

    def __init__(self, step: int) -> None:
        self.step = int(step)

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------------------- fast unit tests
class _Items(torch.utils.data.Dataset):
    """Returns the sampler's ``(index, epoch)`` item as it is."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item: tuple[int, int]) -> tuple[int, int]:
        return item


def _loader(n: int, batch_size: int = 2):
    from seizure_lightning.data.sampling import EpochSeededSampler, ResumableDataLoader

    sampler = EpochSeededSampler(_Items(n), shuffle=True, seed=3)
    return ResumableDataLoader(_Items(n), batch_size=batch_size, sampler=sampler,
                               collate_fn=lambda items: [i for i, _ in items])


def test_loader_resumes_mid_epoch() -> None:
    full = _loader(10)
    full.sampler.set_epoch(4)
    batches = list(full)
    full.progress = lambda: 2  # the trainer finished 2 batches of epoch 4
    state = full.state_dict()
    assert state["epoch"] == 4 and state["batches"] == 2

    resumed = _loader(10)
    resumed.load_state_dict(state)
    assert list(resumed) == batches[2:]  # the epoch continues with the next sample
    assert list(resumed) == batches  # the skip applies to that one iteration only


def test_loader_state_after_a_finished_epoch_starts_the_next() -> None:
    done = _loader(6, batch_size=4)
    done.sampler.set_epoch(1)
    done.progress = lambda: 2  # both batches of epoch 1 trained
    resumed = _loader(6, batch_size=4)
    resumed.load_state_dict(done.state_dict())
    assert resumed.sampler.epoch == 2 and resumed.sampler.skip == 0


def test_resume_skip_other_world_size_warns() -> None:
    from seizure_lightning.data.sampling import resume_skip

    state = {"batches": 3, "batch_size": 2, "num_replicas": 4, "num_samples": 50}
    assert resume_skip(state, 2, 4, 50) == 6
    with pytest.warns(UserWarning, match="different batch size or number of processes"):
        assert resume_skip(state, 2, 2, 50) == 12  # same number of samples seen in total


def test_atomic_checkpoint_io(tmp_path: Path) -> None:
    from seizure_lightning.engine.checkpoints import AtomicCheckpointIO

    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"w": torch.ones(3)}, path)
    io.save_checkpoint({"w": torch.zeros(3)}, path)  # replaced in one rename
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.zeros(3))
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary left
    assert path.stat().st_mode & 0o044  # readable like any file the user creates (umask)


def test_resume_picks_newest_checkpoint(tmp_path: Path) -> None:
    from seizure_lightning.engine.checkpoints import resume_checkpoint

    cfg = OmegaConf.create({"ckpt_path": None})
    assert resume_checkpoint(cfg, tmp_path) is None
    with pytest.raises(FileNotFoundError, match="ckpt_path=last"):
        resume_checkpoint(OmegaConf.create({"ckpt_path": "last"}), tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"x")
    torn = last.parent / ".last.ckpt.abc123.tmp"  # a write killed before its rename
    torn.write_bytes(b"half")
    assert resume_checkpoint(cfg, tmp_path) == str(last)
    assert not torn.exists()
    hpc = tmp_path / "hpc_ckpt_1.ckpt"  # Lightning's SLURM pre-emption checkpoint, newer
    hpc.write_bytes(b"y")
    os.utime(last, (time.time() - 60, time.time() - 60))
    assert resume_checkpoint(cfg, tmp_path) == str(hpc)
    assert resume_checkpoint(OmegaConf.create({"ckpt_path": "/x.ckpt"}), tmp_path) == "/x.ckpt"


def test_rng_state_round_trip_weights_only(tmp_path: Path) -> None:
    import numpy as np

    from seizure_lightning.engine.checkpoints import RNGStateCheckpoint

    torch.manual_seed(0)
    np.random.seed(0)
    state = RNGStateCheckpoint().state_dict()
    torch.save(state, tmp_path / "s.pt")
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(1)
    np.random.seed(1)
    callback = RNGStateCheckpoint()
    callback.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    callback.on_train_start(None, None)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])


def test_trainer_checkpoints_atomically_into_one_last_ckpt(cfg_factory, tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    from seizure_lightning.engine.checkpoints import AtomicCheckpointIO, RNGStateCheckpoint
    from seizure_lightning.engine.trainer import build_trainer

    cfg = cfg_factory("+experiment=pretrain")
    trainer = build_trainer(cfg, tmp_path / "run")
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert sum(isinstance(c, RNGStateCheckpoint) for c in trainer.callbacks) == 1
    saving_last = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.save_last]
    assert len(saving_last) == 2  # at each epoch end and every N steps (+ on an exception)
    assert {c.dirpath for c in saving_last} == {str(tmp_path / "run" / "checkpoints")}
    assert not any(c._enable_version_counter for c in saving_last)  # no last-v1.ckpt


def test_only_rank_zero_owns_the_wandb_id(cfg_factory, tmp_path: Path, monkeypatch) -> None:
    from seizure_lightning.engine.loggers import _without_wandb_id_file, build_loggers

    cfg = cfg_factory("+experiment=pretrain", "logger=wandb", tiny=False)
    run_dir = tmp_path / "run"
    [logger] = build_loggers(_without_wandb_id_file(cfg, 1), run_dir)  # rank 1: never a file
    assert not (run_dir / "wandb_id.txt").exists()
    [logger] = build_loggers(cfg, run_dir)  # rank 0 creates it, and reuses it after
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    assert logger._wandb_init["id"] == run_id
    assert build_loggers(cfg, run_dir)[0]._wandb_init["id"] == run_id


# ---------------------------------------------------------------------------- end to end
def _pretrain_args(root: Path, dataset: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "+experiment=pretrain", f"paths.root_dir={root}", f"hydra.run.dir={run_dir}",
        f"data.manifest={dataset / 'contextual.csv'}",
        "backbone=tiny", "backbone.allow_random_weights=true", "frames=tiny", "model=tiny",
        "trainer=cpu", "trainer.max_epochs=3", "trainer.deterministic=true", "data.batch_size=1",
        "data.num_workers=0", "callbacks.last_every_n_steps.every_n_train_steps=1",
        "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "print_config=false", *extra,
    ]


def _ok(result) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_kill9_mid_epoch_resume_matches_uninterrupted(
    tmp_path: Path, shared_root: Path, tiny_dataset: Path
) -> None:
    env = {"PYTHONPATH": str(REPO_ROOT)}  # the subprocess imports KillAtStep from this file
    ref_dir, run_dir = tmp_path / "uninterrupted", tmp_path / "killed"
    _ok(run_cli(_pretrain_args(shared_root, tiny_dataset, ref_dir, "logger=csv"), tmp_path,
                env=env, timeout=RUN_TIMEOUT))
    ref = _load(ref_dir / "checkpoints" / "last.ckpt")
    loader = ref["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]
    per_epoch = -(-loader["num_samples"] // loader["batch_size"])
    assert per_epoch >= 2, "the test needs at least 2 batches per epoch"

    # SIGKILL at the end of the 2nd step of epoch 1: last.ckpt holds 1 batch of epoch 1
    kill = [f"+callbacks.kill._target_={__name__}.KillAtStep", f"+callbacks.kill.step={per_epoch + 2}"]
    killed = run_cli(_pretrain_args(shared_root, tiny_dataset, run_dir, "logger=csv", *kill),
                     tmp_path, env=env, timeout=RUN_TIMEOUT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    mid = _load(run_dir / "checkpoints" / "last.ckpt")
    progress = mid["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]
    assert mid["epoch"] == 1 and progress["processed"] == 1 < per_epoch  # really mid-epoch
    assert not (run_dir / "encoder.pt").exists()

    resumed = run_cli(_pretrain_args(shared_root, tiny_dataset, run_dir, "logger=csv"), tmp_path,
                      env=env, timeout=RUN_TIMEOUT)
    _ok(resumed)
    assert "resuming from" in resumed.stdout + resumed.stderr
    assert "not resumable" not in resumed.stdout + resumed.stderr  # Lightning sees a stateful loader
    final = _load(run_dir / "checkpoints" / "last.ckpt")
    assert final["global_step"] == ref["global_step"] == 3 * per_epoch
    assert final["state_dict"].keys() == ref["state_dict"].keys()
    for key, value in ref["state_dict"].items():
        assert torch.equal(final["state_dict"][key], value), key
    ref_opt, opt = ref["optimizer_states"][0]["state"], final["optimizer_states"][0]["state"]
    for key in ref_opt:
        assert torch.equal(opt[key]["exp_avg"], ref_opt[key]["exp_avg"])
    assert (run_dir / "encoder.pt").is_file()


@pytest.mark.slow
def test_resume_keeps_wandb_run_id(tmp_path: Path, shared_root: Path, tiny_dataset: Path) -> None:
    run_dir = tmp_path / "run"
    args = _pretrain_args(shared_root, tiny_dataset, run_dir, "logger=wandb",
                          "logger.wandb.offline=true")
    first = [*args, "trainer.max_epochs=1"]
    _ok(run_cli(first, tmp_path, env={"WANDB_MODE": "offline"}, timeout=RUN_TIMEOUT))
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    assert run_id
    # the same command again (one epoch more): resumes from last.ckpt with the same wandb run
    second = [*args, "trainer.max_epochs=2"]
    result = run_cli(second, tmp_path, env={"WANDB_MODE": "offline"}, timeout=RUN_TIMEOUT)
    _ok(result)
    assert "resuming from" in result.stdout + result.stderr
    assert (run_dir / "wandb_id.txt").read_text().strip() == run_id
    offline_runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 2
    assert all(p.name.endswith(f"-{run_id}") for p in offline_runs)
    assert _load(run_dir / "checkpoints" / "last.ckpt")["epoch"] == 1


def test_rerun_resumes_the_newest_unfinished_run_of_the_same_key(tmp_path: Path) -> None:
    """Re-running a command (a new timestamped folder) resumes its unfinished sibling of the same
    config; never a finished one, never one of another config; resume_siblings=false opts out."""
    from seizure_lightning.engine.checkpoints import run_resume_checkpoint
    from seizure_lightning.engine.run_key import RUN_KEY_ENTRY

    def run(name: str, key: str, age: float, finished: bool = False) -> Path:
        ckpt = tmp_path / name / "checkpoints" / "last.ckpt"
        ckpt.parent.mkdir(parents=True)
        torch.save({RUN_KEY_ENTRY: key}, ckpt)
        os.utime(ckpt, (time.time() - age, time.time() - age))
        if finished:
            (tmp_path / name / "metrics.json").write_text("{}")
        return ckpt

    cfg = OmegaConf.create({"ckpt_path": None})
    old = run("2026-01-01_a", "k1", 300)
    newer = run("2026-01-01_b", "k1", 200)
    run("2026-01-01_c", "k2", 100)  # another config: never resumed
    run("2026-01-01_d", "k1", 50, finished=True)  # finished: never resumed
    this = tmp_path / "2026-01-02_new"
    this.mkdir()
    assert run_resume_checkpoint(cfg, this, "k1") == str(newer)
    assert run_resume_checkpoint(cfg, this, "k3") is None
    off = OmegaConf.create({"ckpt_path": None, "resume_siblings": False})
    assert run_resume_checkpoint(off, this, "k1") is None
    assert old.is_file()


def test_pretraining_rerun_resumes_without_a_run_dir(cfg_factory, tmp_path: Path, caplog) -> None:
    """The same pre-training command twice, the first one stopped after its checkpoint: the
    second run continues from it instead of starting again."""
    import logging

    from seizure_lightning.tasks import run_task

    first = cfg_factory("+experiment=pretrain")
    first.paths.output_dir = str(tmp_path / "runs" / "first")
    run_task(first)
    (tmp_path / "runs" / "first" / "metrics.json").unlink()  # as if killed before the end
    second = cfg_factory("+experiment=pretrain")
    second.paths.output_dir = str(tmp_path / "runs" / "second")
    with caplog.at_level(logging.INFO):
        run_task(second)
    assert "resuming the unfinished run first" in caplog.text
    # Lightning restored the first run's state (its epoch counter and weights) in the second
    restored = str(tmp_path / "runs" / "first" / "checkpoints" / "last.ckpt")
    assert f"Restored all states from the checkpoint at {restored}" in caplog.text
    assert (tmp_path / "runs" / "second" / "encoder.pt").is_file()


class _NotData:  # a pickled object: what a tampered checkpoint could carry
    pass


def test_resume_never_unpickles_objects(cfg_factory, tmp_path: Path) -> None:
    """Resuming loads checkpoints with weights_only=True, whatever torch's default."""
    import pickle

    from seizure_lightning.tasks import run_task

    first = cfg_factory("+experiment=pretrain")
    first.paths.output_dir = str(tmp_path / "runs" / "first")
    run_task(first)
    ckpt_path = tmp_path / "runs" / "first" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=False, map_location="cpu")
    ckpt["tampered"] = _NotData()
    torch.save(ckpt, ckpt_path)
    (tmp_path / "runs" / "first" / "metrics.json").unlink()
    second = cfg_factory("+experiment=pretrain")
    second.paths.output_dir = str(tmp_path / "runs" / "second")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        run_task(second)


def test_run_key_ignores_how_a_run_logs_not_what_it_trains() -> None:
    from seizure_lightning.engine.run_key import config_hash

    base = OmegaConf.create({"trainer": {"max_epochs": 5, "enable_model_summary": True},
                             "paths": {"log_dir": "/a"}, "seed": 1})
    quiet = OmegaConf.create({"trainer": {"max_epochs": 5, "enable_model_summary": False},
                              "paths": {"log_dir": "/b"}, "seed": 1})
    longer = OmegaConf.create({"trainer": {"max_epochs": 6, "enable_model_summary": True},
                               "paths": {"log_dir": "/a"}, "seed": 1})
    assert config_hash(base) == config_hash(quiet) != config_hash(longer)
