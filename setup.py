"""What pyproject.toml cannot say: the packages, with the repository's top-level ``conf/``
shipped inside the package as ``seizure_lightning/conf`` (the rest is in pyproject.toml)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["seizure_lightning", "seizure_lightning.*"]),
              "seizure_lightning.conf"],
    package_dir={"seizure_lightning.conf": "conf"},
)
