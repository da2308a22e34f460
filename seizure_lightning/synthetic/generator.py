"""Generate the synthetic EMU benchmark folder (manifests, videos, box tracks, meta, README)."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import io
import json
import multiprocessing as mp
import os
import shutil
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from seizure_lightning.utils.io import atomic_dir
from seizure_lightning.utils.logging import get_logger
from seizure_lightning.utils.progress import progress as progress_counter

from . import motion as mo
from .encode import VideoWriter
from .figure import Appearance, make_appearance
from .presets import GENERATOR_VERSION, SynthConfig, params_hash, resolve_config
from .room import Room, make_room
from .scene import Scene

log = get_logger(__name__)

SEIZURE_COLUMNS = ("video_id", "subject_id", "label", "path", "start_s", "end_s", "boxes")
CONTEXTUAL_COLUMNS = ("path", "subject_id", "start_s", "end_s")
_STREAM_PLAN, _STREAM_SUBJECT, _STREAM_SEIZURE, _STREAM_CONTEXT, _STREAM_SWAP = 0, 1, 2, 3, 4
_SCRUBS = np.array(
    [
        [70, 110, 190],
        [60, 150, 120],
        [40, 130, 140],
        [130, 40, 60],
        [225, 225, 225],
        [120, 120, 130],
    ],
    np.float32,
)


@dataclass(frozen=True)
class Subject:
    """One patient: pseudonym, class, camera resolution, seed of room and appearance."""

    index: int
    subject_id: str
    label: str | None  # None: a contextual-only subject
    resolution: tuple[int, int]


@dataclass(frozen=True)
class VideoPlan:
    """One file to render: a seizure (maybe embedded in a longer file) or a contextual recording."""

    index: int
    file_id: str
    kind: str  # "seizure" | "contextual"
    subject: Subject
    label: str | None
    fps: Fraction
    n_pre: int
    n_main: int
    n_post: int
    swap: bool = False  # a seizure with the other class's envelope (SynthConfig.envelope_swap)

    @property
    def n_frames(self) -> int:
        return self.n_pre + self.n_main + self.n_post

    @property
    def embedded(self) -> bool:
        return self.n_pre + self.n_post > 0


# ----------------------------------------------------------------------------- plan
def plan_dataset(cfg: SynthConfig, seed: int) -> tuple[list[Subject], list[VideoPlan]]:
    """Decide every subject and video (ids, classes, rates, lengths) from the seed."""
    rng = np.random.default_rng([seed, _STREAM_PLAN])
    labels = ["ES"] * cfg.subjects_es + ["PNES"] * cfg.subjects_pnes
    labels = [labels[i] for i in rng.permutation(len(labels))]
    width = max(2, len(str(len(labels))))
    subjects = [
        Subject(
            i, f"P{i + 1:0{width}d}", lab, cfg.resolutions[int(rng.integers(len(cfg.resolutions)))]
        )
        for i, lab in enumerate(labels)
    ]
    fps_choices = cfg.fps_fractions
    seizures: list[tuple[Subject, str]] = []
    for label, total in (("ES", cfg.seizures_es), ("PNES", cfg.seizures_pnes)):
        members = [s for s in subjects if s.label == label]
        if not members:
            continue
        extra = rng.multinomial(total - len(members), rng.dirichlet(np.ones(len(members))))
        for s, k in zip(members, extra):
            seizures += [(s, label)] * (1 + int(k))
    seizures = [seizures[i] for i in rng.permutation(len(seizures))]
    plans: list[VideoPlan] = []
    lo, hi = cfg.seizure_seconds
    for k, (subj, label) in enumerate(seizures):
        fps = fps_choices[int(rng.integers(len(fps_choices)))]
        seconds = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        pre = post = 0.0
        if rng.random() < cfg.embedded_fraction:
            pre, post = rng.uniform(*cfg.embed_context_seconds, 2)
        plans.append(
            VideoPlan(
                k,
                f"SZ{k + 1:04d}",
                "seizure",
                subj,
                label,
                fps,
                round(pre * fps),
                max(2, round(seconds * fps)),
                round(post * fps),
            )
        )
    plans = _swap_envelopes(plans, cfg.envelope_swap, seed)
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    if cfg.contextual_subjects:
        # seizure-free EMU patients seen only in contextual video (ids C01, C02, ...)
        cwidth = max(2, len(str(cfg.contextual_subjects)))
        order = [
            Subject(
                len(subjects) + i,
                f"C{i + 1:0{cwidth}d}",
                None,
                cfg.resolutions[int(rng.integers(len(cfg.resolutions)))],
            )
            for i in range(cfg.contextual_subjects)
        ]
    clo, chi = cfg.contextual_seconds
    for k in range(cfg.contextual_recordings):
        fps = fps_choices[int(rng.integers(len(fps_choices)))]
        n = max(2, round(rng.uniform(clo, chi) * fps))
        plans.append(
            VideoPlan(
                len(plans),
                f"CTX{k + 1:04d}",
                "contextual",
                order[k % len(order)],
                None,
                fps,
                0,
                n,
                0,
            )
        )
    return subjects, plans


def _swap_envelopes(plans: list[VideoPlan], share: float, seed: int) -> list[VideoPlan]:
    """``round(share * n)`` of each class's ``n`` seizures, drawn from a stream of their own (the
    rest of the plan is the same for every ``share``), marked to take the other class's
    envelope."""
    if share <= 0:
        return plans
    rng = np.random.default_rng([seed, _STREAM_SWAP])
    chosen: set[int] = set()
    for label in ("ES", "PNES"):
        members = [p.index for p in plans if p.label == label]
        k = round(share * len(members))
        chosen.update(int(i) for i in rng.choice(members, size=k, replace=False))
    return [dataclasses.replace(p, swap=True) if p.index in chosen else p for p in plans]


# ----------------------------------------------------------------------------- render
@functools.lru_cache(maxsize=2)
def _subject_look(
    seed: int, subject: Subject, noise: tuple[float, float]
) -> tuple[Room, Appearance]:
    rng = np.random.default_rng([seed, _STREAM_SUBJECT, subject.index])
    w, h = subject.resolution
    return make_room(rng, w, h, noise), make_appearance(rng)


def build_scene(cfg: SynthConfig, seed: int, plan: VideoPlan, room: Room, app: Appearance) -> Scene:
    """The motion and nuisances of one video (all draws from the video's own seed)."""
    stream = _STREAM_SEIZURE if plan.kind == "seizure" else _STREAM_CONTEXT
    vseed = int(np.random.SeedSequence([seed, stream, plan.index]).generate_state(1)[0])
    rng = np.random.default_rng(vseed)
    fps = float(plan.fps)
    t = np.arange(plan.n_frames) / fps
    if plan.kind == "seizure":
        parts = []
        if plan.n_pre:
            act = str(rng.choice(["sleep", "restless"]))
            parts.append(mo.contextual(rng, t[: plan.n_pre], [(act, plan.n_pre / fps)]))
        sz = mo.Motion.still(t[: plan.n_main])
        sz.channels = mo.seizure(rng, t[: plan.n_main], plan.label, swap=plan.swap)
        sz.breath = 1.0 + 0.04 * np.sin(
            2 * np.pi * rng.uniform(0.3, 0.6) * t[: plan.n_main] + rng.uniform(0, 2 * np.pi)
        ).astype(np.float32)
        parts.append(sz)
        if plan.n_post:
            parts.append(mo.contextual(rng, t[: plan.n_post], [("sleep", plan.n_post / fps)]))
        m = mo.concat(parts, t)
        mo.seizure_nurse(rng, m, cfg.visitor_prob)
    else:
        activities = mo.random_activities(rng, plan.n_frames / fps)
        m = mo.contextual(rng, t, activities)
        # drawn from a stream of their own: contextual_rhythm=0 leaves the video as it was
        rhythm_rng = np.random.default_rng([vseed, 1])
        allowed = m.present
        if not cfg.contextual_rhythm_in_sleep:
            allowed = allowed & ~mo.activity_mask(t, activities, "sleep")
        m.channels += mo.rhythmic_bouts(rhythm_rng, t, allowed, cfg.contextual_rhythm)
    m.light = mo.flicker(rng, t, cfg.flicker_prob)
    night = bool(rng.random() < cfg.night_prob)
    blanket = None
    if rng.random() < cfg.blanket_prob:
        blanket = np.clip(rng.uniform(60, 220) + rng.normal(0, 30, 3), 20, 240).astype(np.float32)
    nurse_skin = (np.array([235, 190, 160]) * rng.uniform(0.35, 1.0)).astype(np.float32)
    nurse_hair = (np.array([30, 25, 20]) + rng.uniform(0, 1) * np.array([150, 110, 60])).astype(
        np.float32
    )
    scrubs = _SCRUBS[int(rng.integers(len(_SCRUBS)))]
    return Scene(room, app, m, night, blanket, (scrubs, nurse_skin, nurse_hair), vseed)


def _fmt(x: float) -> str:
    return f"{float(x):.6f}".rstrip("0").rstrip(".")


def _render(cfg: SynthConfig, seed: int, root: Path, plan: VideoPlan) -> tuple[int, dict]:
    """Render and encode one video (and its box track); return its manifest row."""
    look = _subject_look(seed, plan.subject, cfg.noise_std)
    scene = build_scene(cfg, seed, plan, *look)
    rel = f"videos/{plan.file_id}.mp4"
    with VideoWriter(root / rel, look[0].width, look[0].height, plan.fps, cfg.crf) as writer:
        for frame in scene.frames():
            writer.write(frame)
    if plan.kind != "seizure":
        return plan.index, {
            "path": rel,
            "subject_id": plan.subject.subject_id,
            "start_s": "",
            "end_s": "",
        }
    box_rel = f"boxes/{plan.file_id}.csv"
    buf = io.StringIO()
    buf.write("frame,x1,y1,x2,y2\n")
    for i, b in enumerate(scene.boxes()):
        buf.write(f"{i},{b[0]:.1f},{b[1]:.1f},{b[2]:.1f},{b[3]:.1f}\n")
    (root / box_rel).write_text(buf.getvalue())
    start = end = ""
    if plan.embedded:
        start = _fmt(plan.n_pre / plan.fps)
        end = _fmt((plan.n_pre + plan.n_main) / plan.fps)
    return plan.index, {
        "video_id": plan.file_id,
        "subject_id": plan.subject.subject_id,
        "label": plan.label,
        "path": rel,
        "start_s": start,
        "end_s": end,
        "boxes": box_rel,
    }


def _csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _build(
    cfg: SynthConfig, preset: str, seed: int, root: Path, progress: bool, workers: int
) -> dict:
    subjects, plans = plan_dataset(cfg, seed)
    (root / "videos").mkdir()
    (root / "boxes").mkdir()
    order = sorted(plans, key=lambda p: (p.subject.index, p.index))
    job = functools.partial(_render, cfg, seed, root)
    rows: dict[int, dict] = {}
    bar = progress_counter(
        total=len(plans), desc="synthetic EMU", unit="video", disable=not progress
    )
    with bar, contextlib.ExitStack() as stack:
        if workers > 1:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            pool = stack.enter_context(
                ProcessPoolExecutor(
                    min(workers, len(plans) or 1), mp_context=mp.get_context(method)
                )
            )
            results = pool.map(job, order)
        else:
            results = map(job, order)
        for index, row in results:
            rows[index] = row
            bar.update(1)
    sz_rows = [rows[p.index] for p in plans if p.kind == "seizure"]
    ctx_rows = [rows[p.index] for p in plans if p.kind == "contextual"]
    (root / "seizures.csv").write_text(_csv(sz_rows, SEIZURE_COLUMNS))
    (root / "contextual.csv").write_text(_csv(ctx_rows, CONTEXTUAL_COLUMNS))
    meta = _meta(cfg, preset, seed, subjects, plans)
    (root / "README.md").write_text(_readme(meta))
    (root / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _meta(
    cfg: SynthConfig, preset: str, seed: int, subjects: list[Subject], plans: list[VideoPlan]
):
    sz = [p for p in plans if p.kind == "seizure"]
    ctx = [p for p in plans if p.kind == "contextual"]
    ctx_seconds = [p.n_frames / p.fps for p in ctx]
    per_subject = []
    for s in subjects:
        per_subject.append(
            {
                "subject_id": s.subject_id,
                "label": s.label,
                "resolution": list(s.resolution),
                "seizures": sum(p.subject.index == s.index for p in sz),
                "contextual_recordings": sum(p.subject.index == s.index for p in ctx),
            }
        )
    counts = {
        "subjects_es": cfg.subjects_es,
        "subjects_pnes": cfg.subjects_pnes,
        "seizures_es": sum(p.label == "ES" for p in sz),
        "seizures_pnes": sum(p.label == "PNES" for p in sz),
        "seizures_embedded": sum(p.embedded for p in sz),
        "seizure_seconds_total": round(float(sum(p.n_main / p.fps for p in sz)), 3),
        "contextual_recordings": len(ctx),
        "contextual_only_subjects": cfg.contextual_subjects,
        "contextual_seconds_total": round(float(sum(ctx_seconds)), 3),
        "contextual_clips_10s": int(sum(int(s // 10) for s in ctx_seconds)),
        "seizures_envelope_swapped": sum(p.swap for p in sz),
        "videos": len(plans),
        "frames": int(sum(p.n_frames for p in plans)),
    }
    return {
        "generator": "seizure_lightning.synthetic",
        "version": GENERATOR_VERSION,
        "preset": preset,
        "seed": int(seed),
        "params": cfg.to_dict(),
        "params_hash": params_hash(cfg, seed),
        "counts": counts,
        "subjects": per_subject,
        # the seizures with the other class's envelope (not in the manifest: for analysis only)
        "envelope_swapped": [p.file_id for p in sz if p.swap],
        "complete": True,
    }


def _readme(meta: dict) -> str:
    c, p = meta["counts"], meta["params"]
    return f"""# Synthetic EMU benchmark ({meta["preset"]}, seed {meta["seed"]})

Generated by `seizure_lightning.synthetic` version {meta["version"]}
(`python -m seizure_lightning +experiment=synthesize synth={meta["preset"]} synth.seed={meta["seed"]}`).
Parameters and hash: `meta.json`. Everything here is synthetic: no patient data.

| | ES | PNES |
| --- | --- | --- |
| subjects | {c["subjects_es"]} | {c["subjects_pnes"]} |
| seizures | {c["seizures_es"]} | {c["seizures_pnes"]} |

- seizure videos: {c["seizures_es"] + c["seizures_pnes"]} ({c["seizure_seconds_total"]:.0f} s of seizure),
  {c["seizures_embedded"]} of them embedded in a longer file (`start_s`/`end_s` set);
  durations {p["seizure_seconds"][0]}-{p["seizure_seconds"][1]} s (log-uniform)
- contextual recordings: {c["contextual_recordings"]} ({c["contextual_seconds_total"]:.0f} s,
  {c["contextual_clips_10s"]} ten-second clips)
- frame rates {", ".join(p["fps_choices"])}; resolutions {", ".join(f"{w}x{h}" for w, h in p["resolutions"])};
  H.264 (libx264, crf {p["crf"]}, yuv420p) in MP4; {c["frames"]} frames in all

## Files
- `seizures.csv`: `video_id,subject_id,label,path,start_s,end_s,boxes` (paths relative to this folder;
  `start_s`/`end_s` empty = the whole file is the seizure)
- `contextual.csv`: `path,subject_id,start_s,end_s` (unlabelled seizure-free recordings)
- `videos/*.mp4`, `boxes/*.csv` (`frame,x1,y1,x2,y2`: the patient's box for every source frame of the
  file, source frame index, source pixels)

## How it is made
Each subject (one class per subject) has its own room and camera: background, bed placement, zoom,
rotation, lighting, noise level, patient's colours, body proportions and rest pose. Nuisances in
both classes alike: blanket over the legs, camera noise, flicker and exposure drift, infrared night
video, a nurse or visitor in view.
The class is in the temporal dynamics only; the per-frame pose distribution is the same for both:
- ES: tonic posture with fine tremor, then clonic jerks synchronous across limbs, head and pelvis
  (tightly in most seizures, loosely in some), frequency decaying from about 3-4 Hz to about
  1-1.6 Hz, amplitude declining, abrupt end.
- PNES: limbs with independent (or only partly coupled) phases and irregular frequencies
  (1.2-3.5 Hz with random-walk modulation), side-to-side head movement and pelvic thrusting out of
  phase with the limbs, waxing-waning amplitude with pauses holding a posture, gradual end.
Contextual recordings: sleeping, restless turning, eating-like arm movement, sitting up, visitors,
clinical checks, empty bed; some at night.
"""


# ----------------------------------------------------------------------------- public API
def is_dataset(folder: str | os.PathLike, expected_hash: str | None = None) -> bool:
    """True if ``folder`` holds a finished synthetic dataset (with ``expected_hash`` if given)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    if not (isinstance(meta, dict) and meta.get("complete") is True):
        return False
    if not ((folder / "seizures.csv").is_file() and (folder / "contextual.csv").is_file()):
        return False
    return expected_hash is None or meta.get("params_hash") == expected_hash


def generate(
    out_dir: str | os.PathLike,
    preset: str = "tiny",
    seed: int = 0,
    overwrite: bool = False,
    *,
    progress: bool = True,
    workers: int = 1,
    **overrides: Any,
) -> Path:
    """Generate the dataset into ``out_dir`` (atomically) and return its absolute path.

    ``overrides`` are ``SynthConfig`` fields (``None`` = preset value). A finished dataset of the
    same parameters in ``out_dir`` is reused unless ``overwrite``; any other non-empty
    ``out_dir`` is refused unless ``overwrite``. ``workers`` > 1 renders videos in that many
    processes (the output does not depend on it).
    """
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ValueError(f"synth parameter 'workers' must be an integer >= 1, got {workers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"synth parameter 'seed' must be a non-negative integer, got {seed!r}")
    cfg = resolve_config(preset, **overrides)
    out = Path(out_dir).expanduser().absolute()
    digest = params_hash(cfg, int(seed))
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"synthetic dataset folder {out} exists and is not a folder")
    occupied = out.is_dir() and any(out.iterdir())
    if occupied and not overwrite:
        if is_dataset(out, digest):
            log.info("synthetic dataset already present at %s (hash %s)", out, digest)
            return out
        raise FileExistsError(
            f"{out} exists and is not a finished synthetic dataset with these parameters "
            f"(preset={preset}, seed={seed}, hash={digest}); pass overwrite=True "
            "(synth.overwrite=true) to replace it, or choose another folder"
        )
    log.info("generating synthetic EMU dataset (%s, seed %d) into %s", preset, seed, out)
    t0 = time.perf_counter()
    if occupied:
        staging = out.with_name(f".{out.name}.new-{uuid.uuid4().hex[:8]}")
        with atomic_dir(staging) as tmp:
            meta = _build(cfg, preset, int(seed), tmp, progress, int(workers))
        trash = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, trash)
        os.replace(staging, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        with atomic_dir(out) as tmp:
            meta = _build(cfg, preset, int(seed), tmp, progress, int(workers))
    log.info(
        "synthetic dataset ready: %d videos, %d frames in %.1f s -> %s",
        meta["counts"]["videos"],
        meta["counts"]["frames"],
        time.perf_counter() - t0,
        out,
    )
    return out


def dataset_dir(
    cache_root: str | os.PathLike, preset: str = "tiny", seed: int = 0, **overrides
) -> Path:
    """The cache folder that ``ensure_dataset`` uses for these parameters."""
    cfg = resolve_config(preset, **overrides)
    name = f"synthetic-{preset}-seed{int(seed)}-{params_hash(cfg, int(seed))}"
    return Path(cache_root).expanduser().absolute() / name


def ensure_dataset(
    cache_root: str | os.PathLike,
    preset: str = "tiny",
    seed: int = 0,
    *,
    progress: bool = True,
    workers: int = 1,
    **overrides: Any,
) -> Path:
    """Return the cached dataset for these parameters, generating it once if needed.

    The folder under ``cache_root`` is keyed by a hash of the resolved parameters, the seed and
    the generator version. Concurrent callers are safe: the loser of the final rename reuses
    the winner's folder.
    """
    from filelock import FileLock

    folder = dataset_dir(cache_root, preset, seed, **overrides)
    digest = folder.name.rsplit("-", 1)[-1]
    if is_dataset(folder, digest):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    # one generator at a time: a concurrent caller waits and reuses the dataset
    with FileLock(folder.parent / f".{folder.name}.lock"):
        if is_dataset(folder, digest):
            return folder
        try:
            return generate(
                folder,
                preset,
                seed,
                overwrite=folder.exists(),
                progress=progress,
                workers=workers,
                **overrides,
            )
        except OSError:
            if is_dataset(folder, digest):
                return folder
            raise
