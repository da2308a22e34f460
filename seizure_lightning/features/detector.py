"""Person detector that writes box tracks (``frame,x1,y1,x2,y2``, source frames and pixels).

torchvision detectors (COCO label 1 = person): ``ssdlite320_mobilenet_v3_large`` (default, fast)
or ``fasterrcnn_resnet50_fpn``. Weights come from torchvision's loading API (``"DEFAULT"``), a
local checkpoint path, or ``None`` (random init, offline tests). Every person above the score
threshold is kept per sampled frame; the detections are linked into tracks over time and the
patient's track is written (``features/tracking.py``: present longest, least displaced, on the
bed), not the best-scoring person of each frame (often a nurse). Frames without the patient are
left out of the track (the loader interpolates them and smooths the track,
``frames.box_smooth_frames``).
If nothing is detected in the whole video (e.g. random weights), the track is one whole-frame
box at frame 0 (``fallback_full_frame=True``, logged), so every video gets a usable track.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from seizure_lightning.features.tracking import choose_patient, link_tracks
from seizure_lightning.features.video import iter_source_frames, source_timestamps
from seizure_lightning.utils.io import atomic_write_text
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

DETECTOR_ARCHS = ("ssdlite320_mobilenet_v3_large", "fasterrcnn_resnet50_fpn")
PERSON_LABEL = 1


def build_detector(
    arch: str = DETECTOR_ARCHS[0], weights: str | None = "DEFAULT"
) -> torch.nn.Module:
    """A torchvision detection model in eval mode."""
    import torchvision

    if arch not in DETECTOR_ARCHS:
        raise ValueError(f"unknown detector {arch!r}; expected one of {DETECTOR_ARCHS}")
    if weights is not None and (os.sep in weights or Path(weights).is_file()):
        model = torchvision.models.get_model(arch, weights=None, weights_backbone=None)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    elif weights is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = torchvision.models.get_model(arch, weights=None, weights_backbone=None)
    else:
        try:
            model = torchvision.models.get_model(arch, weights=weights)
        except (OSError, RuntimeError, ConnectionError) as exc:
            raise RuntimeError(
                f"could not load {arch} weights {weights!r} ({exc}). Offline? Set the detector's "
                "weights to a local checkpoint path (or null for random weights, tests only)."
            ) from exc
    return model.eval()


@torch.inference_mode()
def detect_boxes(
    video_path: str | os.PathLike,
    out_csv: str | os.PathLike,
    *,
    model: torch.nn.Module | None = None,
    arch: str = DETECTOR_ARCHS[0],
    weights: str | None = "DEFAULT",
    every: int = 1,
    score_threshold: float = 0.3,
    batch_size: int = 8,
    device: str = "cpu",
    backend: str = "auto",
    fallback_full_frame: bool = True,
    bed: tuple[float, float, float, float] | None = None,
) -> Path:
    """Detect every person on every ``every``-th source frame, keep the patient's track (``bed``:
    an optional bed region ``x1, y1, x2, y2`` in source pixels that favours tracks on it); write
    the track CSV (atomically) and return its path.
    """
    model = (model or build_detector(arch, weights)).to(device)
    n_source = len(source_timestamps(video_path, backend)) - 1
    wanted = np.arange(0, n_source, max(1, int(every)))
    detections: list[tuple[int, np.ndarray, np.ndarray]] = []
    width = height = 0
    for idx, frames in iter_source_frames(video_path, wanted, backend=backend, chunk=batch_size):
        height, width = frames.shape[1:3]
        images = [torch.from_numpy(f).permute(2, 0, 1).float().div(255).to(device) for f in frames]
        for i, det in zip(idx, model(images)):
            keep = (det["labels"] == PERSON_LABEL) & (det["scores"] >= score_threshold)
            boxes = det["boxes"][keep].detach().cpu().numpy().reshape(-1, 4)
            scores = det["scores"][keep].detach().cpu().numpy()
            valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            detections.append((int(i), boxes[valid], scores[valid]))
    tracks = link_tracks(detections)
    chosen = choose_patient(tracks, len(detections), width, height, bed)
    rows: list[str] = []
    if chosen is not None:
        if len(tracks) > 1:
            log.info("%s: %d people tracked, kept the patient's track (%d of %d sampled frames)",
                     Path(video_path).name, len(tracks), len(tracks[chosen].frames),
                     len(detections))
        rows = [f"{int(f)},{x1:.2f},{y1:.2f},{x2:.2f},{y2:.2f}"
                for f, x1, y1, x2, y2 in tracks[chosen].as_array()]
    if not rows:
        if not fallback_full_frame:
            raise RuntimeError(f"no person detected in {video_path}")
        log.warning("no person detected in %s: writing a whole-frame box track", video_path)
        rows.append(f"0,0,0,{width},{height}")
    out = Path(out_csv)
    atomic_write_text(out, "frame,x1,y1,x2,y2\n" + "\n".join(rows) + "\n")
    return out
