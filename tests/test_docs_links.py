"""README.md and docs/: every link and every file path they name exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")),
        REPO_ROOT / "experiments" / "slurm" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
#: a path in backticks: a file of the repository or of the package (``loso/fold.py``)
CODE_PATH = re.compile(r"`([\w.-]+(?:/[\w.-]+)+\.(?:py|md|yaml|cff|toml|sh|json|png))[`\s:]")
#: outputs of commands and a user's own files, not files of the repository
GENERATED = ("logs/", "data/", "cache/", "conf/local/", "./", "results/",
             "experiments/benchmarks/results/")
#: where a path in backticks may be relative to
BASES = ("", "seizure_lightning", "conf", "docs", "experiments")


def _links(text: str) -> list[str]:
    return [t for t in LINK.findall(text)
            if not re.match(r"^(https?:|mailto:|#)", t)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_links_point_at_files_that_exist(doc: Path) -> None:
    missing = [t for t in _links(doc.read_text())
               if not (doc.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{doc.name}: links to missing files {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_named_files_exist(doc: Path) -> None:
    missing = sorted({p for p in CODE_PATH.findall(doc.read_text())
                      if not p.startswith(GENERATED)
                      and not any((REPO_ROOT / base / p).exists() for base in BASES)})
    assert not missing, f"{doc.name}: names files that do not exist {missing}"


def test_the_checker_finds_a_missing_file(tmp_path: Path) -> None:
    text = "see [the guide](docs/nowhere.md) and `seizure_lightning/loso/nowhere.py`"
    assert _links(text) == ["docs/nowhere.md"]
    assert CODE_PATH.findall(text) == ["seizure_lightning/loso/nowhere.py"]
