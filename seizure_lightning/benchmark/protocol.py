"""The benchmark protocol (``experiments/protocol.yaml``): what is frozen before a report run.

A protocol names the recipe's commit, the paths that hold the recipe (code, configs, Makefile),
the benchmark settings (synthetic-data overrides, the models of the sweep, the LOSO mode) and
its report seeds. Any seed that no protocol names is a development seed and runs freely. A report
seed runs only under its own protocol, only while that protocol is the current one, only once,
and only from a tree whose recipe paths equal the recipe commit's (:func:`check_frozen`). Every
result carries the protocol's hash (:func:`protocol_hash`), so a protocol edited after its
results were written is caught when the results are read.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

DEFAULT_PROTOCOL_FILE = Path("experiments/protocol.yaml")


class ProtocolError(RuntimeError):
    """A refused run or an inconsistent protocol file; the message says why."""


@dataclass(frozen=True)
class Setting:
    """One benchmark setting: a synthetic preset with overrides, and the sweep run on it."""

    name: str
    what: str
    preset: str = "bench"
    synth: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    loso: str = "recipe"
    loso_overrides: tuple[str, ...] = ()
    pretrain: str = "pretrain"


@dataclass(frozen=True)
class Protocol:
    """One frozen protocol of ``experiments/protocol.yaml``."""

    id: str
    recipe_commit: str
    frozen_on: str
    report_seeds: tuple[int, ...]
    settings: dict[str, Setting]
    epochs: int = 25
    common: tuple[str, ...] = ()
    pretrain_threads: int = 2
    frozen_paths: tuple[str, ...] = ("seizure_lightning", "conf", "Makefile", "pyproject.toml",
                                     "setup.py")
    compare: tuple[tuple[str, str], ...] = ()
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def setting(self, name: str) -> Setting:
        if name not in self.settings:
            raise ProtocolError(f"protocol {self.id}: no setting {name!r} (it has "
                                f"{', '.join(self.settings)})")
        return self.settings[name]


@dataclass(frozen=True)
class ProtocolFile:
    """The whole file: the current protocol, every protocol ever frozen, and the seeds used as
    report seeds before protocol files existed (``retired_seeds``: never run again as report)."""

    path: Path
    current: str
    protocols: dict[str, Protocol]
    retired_seeds: tuple[int, ...] = ()

    @property
    def current_protocol(self) -> Protocol:
        return self.protocols[self.current]

    def owner_of(self, seed: int) -> Protocol | None:
        """The protocol whose report seed ``seed`` is, None for a development seed."""
        for protocol in self.protocols.values():
            if seed in protocol.report_seeds:
                return protocol
        return None


def _setting(name: str, raw: dict[str, Any], where: str) -> Setting:
    unknown = set(raw) - {"what", "preset", "synth", "models", "loso", "loso_overrides",
                          "pretrain"}
    if unknown:
        raise ProtocolError(f"{where}: setting {name!r} has unknown keys {sorted(unknown)}")
    if not raw.get("models"):
        raise ProtocolError(f"{where}: setting {name!r} names no models")
    return Setting(name=name, what=str(raw.get("what", "")), preset=str(raw.get("preset", "bench")),
                   synth=tuple(raw.get("synth") or ()), models=tuple(raw["models"]),
                   loso=str(raw.get("loso", "recipe")),
                   loso_overrides=tuple(raw.get("loso_overrides") or ()),
                   pretrain=str(raw.get("pretrain", "pretrain")))


def _protocol(pid: str, raw: dict[str, Any], where: str) -> Protocol:
    for key in ("recipe_commit", "frozen_on", "report_seeds", "settings"):
        if key not in raw:
            raise ProtocolError(f"{where}: protocol {pid!r} has no {key!r}")
    settings = {n: _setting(n, s or {}, where) for n, s in raw["settings"].items()}
    compare = []
    for pair in raw.get("compare") or ():
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ProtocolError(f"{where}: protocol {pid!r}: compare entry {pair!r} is not "
                                "[A, B] (each 'setting/model')")
        for item in pair:
            setting, _, model = str(item).partition("/")
            if setting not in settings or model not in settings[setting].models:
                raise ProtocolError(f"{where}: protocol {pid!r}: compare names {item!r}, not a "
                                    "'setting/model' of this protocol")
        compare.append((str(pair[0]), str(pair[1])))
    known = {"recipe_commit", "frozen_on", "report_seeds", "settings", "epochs", "common",
             "pretrain_threads", "frozen_paths", "compare", "note"}
    kwargs: dict[str, Any] = {}
    if "frozen_paths" in raw:
        kwargs["frozen_paths"] = tuple(raw["frozen_paths"])
    return Protocol(id=pid, recipe_commit=str(raw["recipe_commit"]),
                    frozen_on=str(raw["frozen_on"]),
                    report_seeds=tuple(int(s) for s in raw["report_seeds"]), settings=settings,
                    epochs=int(raw.get("epochs", 25)), common=tuple(raw.get("common") or ()),
                    pretrain_threads=int(raw.get("pretrain_threads", 2)),
                    compare=tuple(compare), note=str(raw.get("note", "")),
                    extra={k: v for k, v in raw.items() if k not in known}, **kwargs)


def load_protocols(path: str | Path = DEFAULT_PROTOCOL_FILE) -> ProtocolFile:
    """Read and check a protocol file: the current protocol exists, no seed is the report seed
    of two protocols or of a protocol and the retired list."""
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: no protocol file")
    raw = OmegaConf.to_container(OmegaConf.load(path)) or {}
    protocols = {str(pid): _protocol(str(pid), p or {}, str(path))
                 for pid, p in (raw.get("protocols") or {}).items()}
    current = str(raw.get("current", ""))
    if current not in protocols:
        raise ProtocolError(f"{path}: current protocol {current!r} is not one of "
                            f"{sorted(protocols)}")
    retired = tuple(int(s) for s in raw.get("retired_seeds") or ())
    seen: dict[int, str] = {s: "retired_seeds" for s in retired}
    for protocol in protocols.values():
        for seed in protocol.report_seeds:
            if seed in seen:
                raise ProtocolError(f"{path}: seed {seed} is a report seed of protocol "
                                    f"{protocol.id} and of {seen[seed]}: a new protocol gets "
                                    "new seeds")
            seen[seed] = f"protocol {protocol.id}"
    return ProtocolFile(path=path, current=current, protocols=protocols, retired_seeds=retired)


def protocol_hash(protocol: Protocol) -> str:
    """12 hex digits of SHA-256 over everything the protocol fixes (not its note)."""
    content = asdict(protocol)
    content.pop("note")
    blob = json.dumps(content, sort_keys=True, default=list).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ProtocolError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def head_commit(repo: Path) -> str:
    return _git(repo, "rev-parse", "HEAD").strip()


def check_frozen(protocol: Protocol, repo: Path) -> str:
    """Refuse (:class:`ProtocolError`) unless the recipe paths of ``repo``, committed and in
    the working tree, equal those of the protocol's recipe commit; the HEAD commit otherwise."""
    commit = _git(repo, "rev-parse", "--verify", f"{protocol.recipe_commit}^{{commit}}").strip()
    paths = list(protocol.frozen_paths)
    changed = _git(repo, "diff", "--name-only", commit, "HEAD", "--", *paths).split()
    if changed:
        raise ProtocolError(
            f"protocol {protocol.id} froze the recipe at {protocol.recipe_commit}; HEAD differs "
            f"in {', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''}: check out the "
            "recipe commit, or freeze a new protocol with new report seeds")
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *paths).splitlines()
    if dirty:
        raise ProtocolError(
            f"protocol {protocol.id}: the working tree differs from the recipe commit in "
            f"{', '.join(line[3:] for line in dirty[:8])}: commit or stash it first")
    return head_commit(repo)
