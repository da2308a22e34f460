"""The package installs from a wheel (not only ``pip install -e``): the configs ship inside it,
and ``seizure-lightning`` works from any folder, with ``./conf/local/default.yaml`` applied.

The wheel is built from a copy of the repository (no stale ``build/`` folder), offline (this
environment's setuptools, no build isolation), and installed without dependencies into a fresh
virtual environment that sees this environment's packages through a ``.pth`` file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

# a working copy's outputs at its top level (conf/data/ is a source), and caches anywhere
OUTPUTS = {".git", ".venv", "build", "dist", "logs", "data", "cache", "outputs", "multirun",
           "wandb", ".pytest_cache", ".ruff_cache"}
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    shutil.copytree(REPO_ROOT, source, ignore=lambda folder, names: CACHES(folder, names) | (
        OUTPUTS & set(names) if Path(folder) == REPO_ROOT else set()))
    for stray in (source / "conf" / "local").glob("*.yaml"):  # this machine's own overrides
        stray.unlink()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--wheel-dir", str(tmp / "dist"), str(source)], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("seizure_lightning-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    """A venv with only the wheel installed; its dependencies come from this environment."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv.parent)
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=venv.parent).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", str(wheel)], cwd=venv.parent)
    return venv / "bin"


@pytest.mark.slow
def test_wheel_installs_a_working_cli(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    bin_dir = install_in_fresh_venv(wheel, tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"  # no repository around: only the installed package
    (elsewhere / "conf" / "local").mkdir(parents=True)
    (elsewhere / "conf" / "local" / "default.yaml").write_text("# @package _global_\nseed: 1234\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "WANDB_MODE": "offline"}

    where = _run([str(bin_dir / "python"), "-c",
                  "import seizure_lightning.app as a; print(a.__file__); print(a.CONFIG_DIR)"],
                 cwd=elsewhere, env=env).stdout.split()
    assert all(Path(p).is_relative_to(tmp_path / "venv") for p in where), where
    assert not Path(where[1], "local", "default.yaml").exists()  # never shipped

    helped = _run([str(bin_dir / "seizure-lightning"), "--help"], cwd=elsewhere, env=env).stdout
    assert helped.startswith("seizure-lightning:") and "paper/preprocess" in helped
    composed = _run([str(bin_dir / "seizure-lightning"), "+experiment=loso", "--cfg", "job"],
                    cwd=elsewhere, env=env).stdout
    assert "task: loso" in composed and "seed: 1234" in composed  # ./conf/local applies
    assert "\nmodel:" in composed and "test_subject:" in composed
    reported = _run([str(bin_dir / "seizure-lightning-report"), "--help"], cwd=elsewhere, env=env)
    assert "predictions" in reported.stdout.lower()


def test_editable_install_reads_the_repository_conf() -> None:
    """``pip install -e`` (the Makefile's) keeps reading conf/ of the repository: edits apply."""
    from seizure_lightning.app import CONFIG_DIR

    if os.environ.get("SEIZURE_LIGHTNING_CONFIG_DIR"):
        pytest.skip("SEIZURE_LIGHTNING_CONFIG_DIR names another conf/")
    assert CONFIG_DIR == REPO_ROOT / "conf"


def test_citation_and_license() -> None:
    """CITATION.cff (CFF 1.2.0) cites the software and the paper it implements; LICENSE is the
    MIT text pyproject.toml declares."""
    import yaml

    cff = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    for key in ("message", "title", "authors", "version", "license"):
        assert cff.get(key), f"CITATION.cff has no {key}"
    (paper,) = cff["references"]
    assert paper["title"] == ("A Self-Supervised Pre-Training Framework for Vision-Based Seizure "
                              "Classification")
    assert [a["family-names"] for a in paper["authors"]] == [
        "Hou", "McGonigal", "Bartolomei", "Thonnat"]
    assert (paper["year"], paper["start"], paper["end"]) == (2022, 1151, 1155)
    assert paper["doi"] == "10.1109/ICASSP43922.2022.9746325" and "ICASSP" in paper[
        "collection-title"]
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert cff["license"] == "MIT" and '\nlicense = "MIT"\n' in pyproject
    assert f'\nversion = "{cff["version"]}"\n' in pyproject
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "seizure-lightning developers" in license_text
