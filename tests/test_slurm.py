"""The SLURM launcher config composes with the multi-node trainer and cannot drift from it."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from .conftest import compose_config


def _launcher(tmp_path: Path, *overrides: str) -> dict:
    cfg = compose_config(
        tmp_path,
        ["+experiment=pretrain", "hydra/launcher=slurm", "trainer=ddp_multinode", *overrides],
    )
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    for key in ("nodes", "tasks_per_node", "gpus_per_node"):  # interpolations of the trainer
        launcher[key] = OmegaConf.select(cfg, f"hydra.launcher.{key}")
    return cfg, launcher


def test_slurm_launcher_follows_trainer(tmp_path: Path) -> None:
    cfg, launcher = _launcher(tmp_path, "trainer.num_nodes=6", "trainer.devices=8")
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert launcher["nodes"] == cfg.trainer.num_nodes == 6
    assert launcher["tasks_per_node"] == cfg.trainer.devices == 8  # one task per device
    assert launcher["gpus_per_node"] == 8
    assert cfg.trainer.strategy == "ddp"
    # one owner of requeue: Lightning's SIGUSR1; submitit never resubmits by itself
    assert launcher["additional_parameters"]["signal"].startswith("USR1@")
    assert launcher["max_num_timeout"] == 0


def test_sbatch_script_is_consistent(tmp_path: Path) -> None:
    from submitit.slurm.slurm import _make_sbatch_string

    _, launcher = _launcher(tmp_path, "trainer.num_nodes=2", "trainer.devices=4",
                            "hydra.launcher.partition=gpu", "hydra.launcher.account=emu")
    script = _make_sbatch_string(
        command="python -m seizure_lightning", folder=str(tmp_path), job_name="pretrain",
        nodes=launcher["nodes"], ntasks_per_node=launcher["tasks_per_node"],
        gpus_per_node=launcher["gpus_per_node"], cpus_per_task=launcher["cpus_per_task"],
        time=launcher["timeout_min"], mem=f"{launcher['mem_gb']}GB",
        partition=launcher["partition"], account=launcher["account"],
        additional_parameters=launcher["additional_parameters"],
    )
    assert "#SBATCH --nodes=2" in script
    assert "#SBATCH --ntasks-per-node=4" in script
    assert "#SBATCH --gpus-per-node=4" in script
    assert "#SBATCH --signal=USR1@180" in script and "USR2" not in script
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --account=emu" in script


def test_joblib_launcher_composes(tmp_path: Path) -> None:
    cfg = compose_config(tmp_path, ["+experiment=loso", "hydra/launcher=joblib"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.sweep.subdir == "tiny/fold=None"  # fold set per job by the sweeper
