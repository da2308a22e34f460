"""The patient among the people a detector sees: link per-frame person boxes into tracks, keep
the patient's.

In EMU video a nurse or a visitor is often in view during a seizure, and the detector may score
them higher than a patient under a blanket. A box per frame chosen by score jumps between people;
instead, detections are linked over time into tracks (greedy IoU matching, gaps up to
``max_gap`` sampled frames) and one track is kept by what distinguishes the patient:

- **present longest**: the share of sampled frames the track covers;
- **least displaced**: the patient stays in bed, staff walk in and out (centre path length
  relative to the frame diagonal, per covered frame);
- **on the bed**: overlap with a bed region when one is given (``bed``, in pixels).

Pure numpy; ``features/detector.py`` feeds it and writes the chosen track.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: weights of the patient score: coverage - DISPLACEMENT * displacement + BED * bed overlap
DISPLACEMENT_WEIGHT = 2.0
BED_WEIGHT = 0.5


@dataclass
class Track:
    """One person over time: the sampled frames it was seen in, its boxes and scores."""

    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    last_step: int = -1  # the sampling step it was last seen at (for max_gap)

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    @property
    def last_box(self) -> np.ndarray:
        return self.boxes[-1]

    def as_array(self) -> np.ndarray:
        """``[n, 5]``: frame, x1, y1, x2, y2."""
        return np.column_stack([np.asarray(self.frames, float), np.stack(self.boxes)])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a [n, 4]`` and ``b [m, 4]`` (x1, y1, x2, y2) -> ``[n, m]``."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def link_tracks(
    detections: Sequence[tuple[int, np.ndarray, np.ndarray]],
    *,
    iou_threshold: float = 0.3,
    max_gap: int = 3,
) -> list[Track]:
    """Tracks from per-frame detections ``(frame, boxes [n, 4], scores [n])`` in frame order.

    Each detection joins the open track whose last box overlaps it most (IoU >= threshold,
    greedy, best pairs first); a track not seen for more than ``max_gap`` sampled frames is
    closed; an unmatched detection starts a track.
    """
    tracks: list[Track] = []
    open_ids: list[int] = []
    for step, (frame, boxes, scores) in enumerate(detections):
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        scores = np.asarray(scores, float).reshape(-1)
        open_ids = [t for t in open_ids if step - tracks[t].last_step <= max_gap + 1]
        matched: set[int] = set()
        used: set[int] = set()
        if open_ids and len(boxes):
            overlap = iou(np.stack([tracks[t].last_box for t in open_ids]), boxes)
            for flat in np.argsort(-overlap, axis=None):
                ti, di = np.unravel_index(flat, overlap.shape)
                if overlap[ti, di] < iou_threshold:
                    break
                if ti in matched or di in used:
                    continue
                matched.add(int(ti))
                used.add(int(di))
                _append(tracks[open_ids[ti]], frame, boxes[di], scores[di], step)
        for di in range(len(boxes)):
            if di not in used:
                track = Track()
                _append(track, frame, boxes[di], scores[di], step)
                tracks.append(track)
                open_ids.append(len(tracks) - 1)
    return tracks


def _append(track: Track, frame: int, box: np.ndarray, score: float, step: int) -> None:
    track.frames.append(int(frame))
    track.boxes.append(np.asarray(box, float))
    track.scores.append(float(score))
    track.last_step = step


def patient_score(
    track: Track, n_sampled: int, width: int, height: int, bed: Sequence[float] | None = None
) -> dict[str, float]:
    """The terms of the patient score of one track (see the module docstring) and their sum."""
    coverage = len(track.frames) / max(n_sampled, 1)
    boxes = np.stack(track.boxes)
    centres = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2])
    path = float(np.linalg.norm(np.diff(centres, axis=0), axis=1).sum()) if len(centres) > 1 else 0.0
    diagonal = float(np.hypot(width, height)) or 1.0
    displacement = path / diagonal / max(len(track.frames), 1) * 10.0
    on_bed = float(iou(boxes, np.asarray(bed, float)[None]).mean()) if bed is not None else 0.0
    total = coverage - DISPLACEMENT_WEIGHT * displacement + BED_WEIGHT * on_bed
    return {"coverage": coverage, "displacement": displacement, "on_bed": on_bed,
            "score": total}


def choose_patient(
    tracks: Sequence[Track], n_sampled: int, width: int, height: int,
    bed: Sequence[float] | None = None,
) -> int | None:
    """Index of the patient's track (highest :func:`patient_score`), None without tracks."""
    if not tracks:
        return None
    scores = [patient_score(t, n_sampled, width, height, bed)["score"] for t in tracks]
    return int(np.argmax(scores))
