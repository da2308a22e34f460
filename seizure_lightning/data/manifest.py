"""Users' manifests: seizure videos (labelled) and contextual recordings (unlabelled).

Every problem of a manifest is reported at once, each with its CSV row number (header = row 1)
and file, before any decoding starts. With ``skip_bad_rows=True`` the bad rows are skipped and
listed in a warning instead. Paths are relative to the manifest's folder unless absolute.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from seizure_lightning.constants import CLIP_SECONDS, FPS, LABELS
from seizure_lightning.data.boxes import box_track_problems
from seizure_lightning.features.video import VideoError, VideoInfo, n_target_frames, probe_video
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

SEIZURE_COLUMNS = ("video_id", "subject_id", "label", "path")
SEIZURE_OPTIONAL = ("start_s", "end_s", "boxes")
CONTEXTUAL_COLUMNS = ("path",)
CONTEXTUAL_OPTIONAL = ("subject_id", "start_s", "end_s")
TAIL_POLICIES = ("drop", "keep", "pad", "shift")


class ManifestError(ValueError):
    """A manifest with problems; ``problems`` lists each as ``row N (file): what``."""

    def __init__(self, manifest: str | os.PathLike, problems: list[str]) -> None:
        self.manifest = Path(manifest)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"manifest {self.manifest}: {len(self.problems)} problem(s):\n{lines}")


class ManifestWarning(UserWarning):
    """Rows skipped because ``skip_bad_rows=True``."""


@dataclass(frozen=True)
class SeizureRecord:
    """One seizure video (``row``: 1-based CSV row, header = row 1)."""

    video_id: str
    subject_id: str
    label: str
    path: Path
    start_s: float | None
    end_s: float | None
    boxes: Path | None
    row: int


@dataclass(frozen=True)
class ClipRecord:
    """One contextual clip cut from a recording (``row``: the recording's CSV row)."""

    clip_id: str
    subject_id: str | None
    path: Path
    start_s: float
    end_s: float
    row: int


# --------------------------------------------------------------------------- helpers
def _read_csv(path: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise ManifestError(path, [f"manifest file not found: {path}"])
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:
        raise ManifestError(path, [f"not a readable CSV: {exc}"]) from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ManifestError(
            path,
            [
                f"missing required column(s) {missing}; found {list(df.columns)} "
                f"(required: {list(required)}, optional: {list(optional)})"
            ],
        )
    for col in optional:
        if col not in df.columns:
            df[col] = ""
    return df.apply(lambda s: s.str.strip())


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _parse_time(value: str, name: str, errors: list[str]) -> float | None:
    if value == "":
        return None
    try:
        out = float(value)
    except ValueError:
        errors.append(f"{name}={value!r} is not a number")
        return None
    if not math.isfinite(out) or out < 0:
        errors.append(f"{name}={value!r} must be a finite number >= 0")
        return None
    return out


def _parse_span(row: pd.Series, errors: list[str]) -> tuple[float | None, float | None]:
    start = _parse_time(row["start_s"], "start_s", errors)
    end = _parse_time(row["end_s"], "end_s", errors)
    if start is not None and end is not None and not start < end:
        errors.append(f"start_s={start:g} must be < end_s={end:g}")
    return start, end


def _probe_all(paths: list[Path]) -> dict[Path, VideoInfo | str]:
    """Probe distinct videos in a few threads; value = info or the error message."""

    def one(p: Path) -> VideoInfo | str:
        try:
            return probe_video(p)
        except VideoError as exc:
            return str(exc)

    uniq = list(dict.fromkeys(paths))
    if not uniq:
        return {}
    with ThreadPoolExecutor(max_workers=min(4, len(uniq))) as pool:
        return dict(zip(uniq, pool.map(one, uniq)))


def _check_span(info: VideoInfo, start: float | None, end: float | None, fps: float) -> list[str]:
    errs = []
    s = start or 0.0
    tol = 1.0 / info.fps if info.fps > 0 else 0.05
    if s >= info.duration:
        errs.append(f"start_s={s:g} is at or after the video's end ({info.duration:.3f} s)")
    elif end is not None and end > info.duration + tol:
        errs.append(f"end_s={end:g} is after the video's end ({info.duration:.3f} s)")
    else:
        e = info.duration if end is None else min(end, info.duration + tol)
        if n_target_frames(e - s, fps) < 1:
            errs.append(f"trimmed span {s:g}-{e:g} s is shorter than one frame at {fps:g} fps")
    return errs


def _finish(
    manifest: Path, problems: dict[int, list[str]], files: dict[int, str], skip_bad_rows: bool
) -> set[int]:
    """Raise (or warn about skipped rows); the set of bad rows to skip."""
    if not problems:
        return set()
    lines = [
        f"row {r} ({files.get(r, '?')}): {'; '.join(msgs)}" for r, msgs in sorted(problems.items())
    ]
    if not skip_bad_rows:
        raise ManifestError(manifest, lines)
    msg = f"manifest {manifest}: skipping {len(lines)} bad row(s):\n" + "\n".join(
        f"  - {line}" for line in lines
    )
    warnings.warn(msg, ManifestWarning, stacklevel=3)
    log.warning(msg)
    return set(problems)


# --------------------------------------------------------------------------- seizures
def load_seizure_manifest(
    path: str | os.PathLike,
    *,
    skip_bad_rows: bool = False,
    check_files: bool = True,
    check_videos: bool = True,
    fps: float = FPS,
    labelled: bool = True,
) -> list[SeizureRecord]:
    """Load and validate a seizure manifest (``video_id,subject_id,label,path[,start_s,end_s,boxes]``).

    ``labelled=False`` (videos to classify): ``subject_id`` and ``label`` may be absent or empty.

    ``check_files``: the video and box files must exist; ``check_videos`` (needs ``check_files``):
    probe each video (readable, not truncated, trimmed span inside it and >= one frame at
    ``fps``) and validate its box track against the frame size.
    """
    manifest = Path(path).resolve()
    required = SEIZURE_COLUMNS if labelled else ("video_id", "path")
    optional = SEIZURE_OPTIONAL + tuple(c for c in SEIZURE_COLUMNS if c not in required)
    df = _read_csv(manifest, required, optional)
    base = manifest.parent
    problems: dict[int, list[str]] = {}
    files: dict[int, str] = {}
    records: list[SeizureRecord] = []
    first_row: dict[str, int] = {}
    for i, row in df.iterrows():
        r = int(i) + 2
        errs: list[str] = []
        files[r] = row["path"] or "<no path>"
        for col in required:
            if row[col] == "":
                errs.append(f"empty {col}")
        label = row["label"].upper()
        if row["label"] and label not in LABELS:
            errs.append(f"unknown label {row['label']!r} (expected ES or PNES, any case)")
        vid = row["video_id"]
        if vid and vid in first_row:
            errs.append(f"duplicate video_id {vid!r} (first at row {first_row[vid]})")
        first_row.setdefault(vid, r)
        start, end = _parse_span(row, errs)
        video = _resolve(base, row["path"]) if row["path"] else None
        boxes = _resolve(base, row["boxes"]) if row["boxes"] else None
        if check_files and video is not None and not video.is_file():
            errs.append(f"video file not found: {video}")
        if check_files and boxes is not None and not boxes.is_file():
            errs.append(f"box track not found: {boxes}")
        if errs:
            problems[r] = errs
        records.append(SeizureRecord(vid, row["subject_id"], label, video, start, end, boxes, r))
    if check_files and check_videos:
        _check_videos(records, problems, fps, lambda rec: rec.boxes)
    bad = _finish(manifest, problems, files, skip_bad_rows)
    good = [rec for rec in records if rec.row not in bad]
    if not good:
        raise ManifestError(manifest, ["no usable rows"])
    return good


def _check_videos(
    records: list, problems: dict[int, list[str]], fps: float, boxes_of: Callable
) -> dict[Path, VideoInfo | str]:
    todo = [rec for rec in records if rec.row not in problems]
    infos = _probe_all([rec.path for rec in todo])
    for rec in todo:
        info = infos[rec.path]
        if isinstance(info, str):
            problems.setdefault(rec.row, []).append(info)
            continue
        end = rec.end_s if rec.end_s is not None and rec.end_s >= 0 else None  # -1: whole file
        errs = _check_span(info, rec.start_s, end, fps)
        box = boxes_of(rec)
        if box is not None:
            errs += box_track_problems(box, width=info.width, height=info.height)
        if errs:
            problems.setdefault(rec.row, []).extend(errs)
    return infos


# --------------------------------------------------------------------------- contextual
def load_contextual_clips(
    path: str | os.PathLike,
    *,
    clip_seconds: float = CLIP_SECONDS,
    tail: str = "drop",
    min_tail_seconds: float = 1.0,
    skip_bad_rows: bool = False,
    check_files: bool = True,
    check_videos: bool = True,
    fps: float = FPS,
) -> list[ClipRecord]:
    """Load a contextual manifest (``path[,subject_id,start_s,end_s]``) cut into clips.

    Each recording's span is cut into consecutive ``clip_seconds`` clips. The shorter tail:
    ``drop`` it; ``keep`` (alias ``pad``) it as a shorter clip (the sequence loader pads it with
    r(PAD)) when it is at least ``min_tail_seconds``; ``shift``: add a last full-length clip
    ending at the span's end (overlapping the previous one). Recordings without ``end_s`` are
    probed for their duration.
    """
    if tail not in TAIL_POLICIES:
        raise ValueError(f"unknown tail policy {tail!r}; expected one of {TAIL_POLICIES}")
    if clip_seconds <= 0:
        raise ValueError("clip_seconds must be > 0")
    manifest = Path(path).resolve()
    df = _read_csv(manifest, CONTEXTUAL_COLUMNS, CONTEXTUAL_OPTIONAL)
    base = manifest.parent
    problems: dict[int, list[str]] = {}
    files: dict[int, str] = {}
    rows: list[ClipRecord] = []  # one per recording: the whole span
    for i, row in df.iterrows():
        r = int(i) + 2
        errs: list[str] = []
        files[r] = row["path"] or "<no path>"
        if row["path"] == "":
            errs.append("empty path")
        start, end = _parse_span(row, errs)
        video = _resolve(base, row["path"]) if row["path"] else None
        if video is not None and (check_files or end is None) and not video.is_file():
            errs.append(f"video file not found: {video}")
        if errs:
            problems[r] = errs
        span_end = -1.0 if end is None else end
        rows.append(ClipRecord("", row["subject_id"] or None, video, start or 0.0, span_end, r))
    need_probe = [rec for rec in rows if rec.end_s < 0 or (check_files and check_videos)]
    infos = _check_videos(need_probe, problems, fps, lambda rec: None) if need_probe else {}
    bad = _finish(manifest, problems, files, skip_bad_rows)
    clips: list[ClipRecord] = []
    total = dropped = 0.0
    unused: list[str] = []
    for rec in rows:
        if rec.row in bad:
            continue
        end = rec.end_s if rec.end_s >= 0 else infos[rec.path].duration
        cut = _cut(rec, end, clip_seconds, tail, min_tail_seconds)
        span = max(end - rec.start_s, 0.0)
        covered = min(sum(c.end_s - c.start_s for c in cut), span)
        total, dropped = total + span, dropped + span - covered
        if not cut:
            unused.append(f"row {rec.row} ({files.get(rec.row, rec.path.name)}, {span:.1f} s)")
        clips += cut
    report_dropped(manifest, len(rows) - len(bad), len(clips), total, dropped, unused,
                   clip_seconds, tail)
    if not clips:
        raise ManifestError(manifest, ["no clips: every recording is shorter than one clip"])
    return clips


def report_dropped(manifest: Path, recordings: int, clips: int, total: float, dropped: float,
                   unused: list[str], clip_seconds: float, tail: str) -> None:
    """Say how much contextual video the clips leave out, and why (never a silent drop)."""
    log.info("contextual manifest %s: %d recording(s), %.0f s -> %d clip(s) of %g s",
             manifest.name, recordings, total, clips, clip_seconds)
    if dropped > 1e-6:
        log.warning(
            "contextual manifest %s: %.1f s of %.1f s (%.0f%%) left out of the clips: the last "
            "part of recordings shorter than a clip (data.tail=%s; `keep` or `shift` use it)%s",
            manifest.name, dropped, total, 100 * dropped / max(total, 1e-9), tail,
            f"; recordings shorter than one clip, not used at all: {', '.join(unused)}"
            if unused else "")


def _cut(
    rec: ClipRecord, end: float, clip_seconds: float, tail: str, min_tail: float
) -> list[ClipRecord]:
    span = end - rec.start_s
    n_full = math.floor(span / clip_seconds + 1e-9)
    bounds = [
        (rec.start_s + k * clip_seconds, rec.start_s + (k + 1) * clip_seconds)
        for k in range(n_full)
    ]
    rest = span - n_full * clip_seconds
    if rest > 1e-6 and rest >= min_tail:
        if tail in ("keep", "pad"):
            bounds.append((rec.start_s + n_full * clip_seconds, end))
        elif tail == "shift" and span >= clip_seconds:
            bounds.append((end - clip_seconds, end))
    stem = rec.path.stem
    return [
        ClipRecord(
            f"{stem}_r{rec.row}_{s:09.3f}",
            rec.subject_id,
            rec.path,
            round(s, 6),
            round(e, 6),
            rec.row,
        )
        for s, e in bounds
    ]
