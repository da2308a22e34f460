"""Task ``predict``: classify new videos with a fine-tuned checkpoint.

For each video: decode at 25 fps, crop the patient box (if a track is given), extract the frozen
descriptors with the SAME frames/backbone settings as training (stored in the checkpoint),
classify every window, average the window softmax (paper) and write ``prediction.json`` and a
PNG timeline of p_PNES with the decision threshold. Several videos: a manifest.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from seizure_lightning.constants import LABELS
from seizure_lightning.data.base import extraction_config
from seizure_lightning.data.extraction import ClipFeaturizer
from seizure_lightning.data.windows import take_window, window_starts
from seizure_lightning.modules.classifier import ClassifierModule
from seizure_lightning.utils.io import atomic_write_bytes, atomic_write_json
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)

CKPT_KEY = "seizure_lightning"


@dataclass(frozen=True)
class VideoToPredict:
    """A video to classify (the fields the featurizer reads)."""

    video_id: str
    path: Path
    start_s: float | None = None
    end_s: float | None = None
    boxes: Path | None = None
    label: str | None = None
    subject_id: str | None = None
    row: int | None = None


def videos_from_config(cfg: DictConfig) -> list[VideoToPredict]:
    """``predict.video`` (+ ``predict.boxes``) or every row of ``predict.manifest``."""
    p = cfg.predict
    if p.get("manifest"):
        return videos_from_manifest(Path(p.manifest))
    if not p.get("video"):
        raise ValueError("set predict.video=PATH (and optionally predict.boxes) or predict.manifest")
    video = Path(p.video).expanduser().resolve()
    if not video.is_file():
        raise FileNotFoundError(f"predict.video not found: {video}")
    boxes = Path(p.boxes).expanduser().resolve() if p.get("boxes") else None
    if boxes is not None and not boxes.is_file():
        raise FileNotFoundError(f"predict.boxes not found: {boxes}")
    return [VideoToPredict(video.stem, video, boxes=boxes)]


def videos_from_manifest(path: Path) -> list[VideoToPredict]:
    """Rows ``video_id,path[,start_s,end_s,boxes,label,subject_id]`` (paths relative to the file)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("video_id", "path") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    out, problems = [], []
    for i, row in frame.iterrows():
        video = (path.parent / row["path"]).resolve()
        boxes = (path.parent / row["boxes"]).resolve() if row.get("boxes") else None
        if not video.is_file():
            problems.append(f"row {i + 2} ({row['path']}): video not found")
            continue
        if boxes is not None and not boxes.is_file():
            problems.append(f"row {i + 2} ({row['boxes']}): box track not found")
            continue
        out.append(VideoToPredict(
            str(row["video_id"]), video,
            float(row["start_s"]) if row.get("start_s") else None,
            float(row["end_s"]) if row.get("end_s") else None, boxes,
            str(row["label"]).upper() if row.get("label") else None,
            str(row["subject_id"]) if row.get("subject_id") else None, i + 2,
        ))
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return out


def load_classifier(ckpt: str | Path) -> tuple[ClassifierModule, dict[str, Any]]:
    """The classifier and the data settings it was trained with (from the checkpoint)."""
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise FileNotFoundError(f"predict.ckpt not found: {ckpt}")
    payload = torch.load(ckpt, map_location="cpu", weights_only=True)
    data = payload.get(CKPT_KEY)
    if data is None:
        raise ValueError(f"{ckpt} has no {CKPT_KEY!r} section: not a fine-tuned classifier checkpoint")
    module = ClassifierModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    return module.eval(), data


@torch.inference_mode()
def classify(module: ClassifierModule, feats: np.ndarray, pad: np.ndarray, window: int,
             stride: int, batch_size: int = 16) -> tuple[list[int], np.ndarray]:
    """Window starts and their softmax ``[W, 2]`` for descriptors ``[T, D]``."""
    starts = window_starts(len(feats), window, stride)
    probs = []
    for lo in range(0, len(starts), batch_size):
        chunk = [take_window(feats, s, window, pad) for s in starts[lo : lo + batch_size]]
        x = torch.from_numpy(np.stack([c[0] for c in chunk]))
        m = torch.from_numpy(np.stack([c[1] for c in chunk]))
        probs.append(module(x, m).float().softmax(-1).numpy())
    return starts, np.concatenate(probs)


def timeline_png(result: dict[str, Any], threshold: float) -> bytes:
    """p_PNES of each window over time, the threshold and the video-level decision."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    w = result["windows"]
    mid = [(x["start_s"] + x["end_s"]) / 2 for x in w]
    ax.hlines([x["p_PNES"] for x in w], [x["start_s"] for x in w], [x["end_s"] for x in w],
              color="#c44e52", alpha=0.3)
    ax.plot(mid, [x["p_PNES"] for x in w], "o-", color="#c44e52", ms=3, label="window p_PNES")
    ax.axhline(threshold, ls="--", color="grey", lw=1, label=f"threshold {threshold:g}")
    ax.axhline(result["p_PNES"], color="black", lw=1, label=f"video p_PNES {result['p_PNES']:.2f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time in video (s)")
    ax.set_ylabel("p_PNES")
    ax.set_title(f"{result['video_id']}: predicted {result['label']}")
    ax.legend(fontsize=7, loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def predict_video(video: VideoToPredict, module: ClassifierModule, featurizer: ClipFeaturizer,
                  pad: np.ndarray, window: int, stride: int, threshold: float) -> dict[str, Any]:
    """Classify one video; the JSON-ready result."""
    feats = featurizer(video).numpy()
    fps = featurizer.cfg.fps
    starts, probs = classify(module, feats, pad, window, stride)
    p = probs.mean(0)
    return {
        "video_id": video.video_id,
        "p_ES": float(p[0]),
        "p_PNES": float(p[1]),
        "label": LABELS[1] if p[1] >= threshold else LABELS[0],
        "threshold": threshold,
        "true_label": video.label,
        "frames": len(feats),
        "fps": fps,
        "windows": [
            {"start_s": s / fps, "end_s": min(s + window, len(feats)) / fps,
             "p_ES": float(q[0]), "p_PNES": float(q[1])}
            for s, q in zip(starts, probs)
        ],
    }


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    """Classify ``predict.video`` or every video of ``predict.manifest``."""
    out = Path(cfg.predict.out)
    videos = videos_from_config(cfg)
    module, data = load_classifier(cfg.predict.ckpt)
    extraction = extraction_config(data["frames"], data["backbone"])
    featurizer = ClipFeaturizer(extraction.frames, extraction.encoder)
    pad = featurizer.special()[1]
    threshold = float(cfg.predict.threshold)
    stride = int(cfg.predict.stride)
    results = []
    for video in videos:
        result = predict_video(video, module, featurizer, pad, int(data["window"]), stride,
                               threshold)
        folder = out if len(videos) == 1 else out / video.video_id
        atomic_write_json(folder / "prediction.json", result)
        atomic_write_bytes(folder / "timeline.png", timeline_png(result, threshold))
        log.info("%s: %s (p_PNES %.3f)", video.video_id, result["label"], result["p_PNES"])
        results.append(result)
    if len(videos) > 1:
        table = pd.DataFrame([{k: r[k] for k in ("video_id", "label", "p_ES", "p_PNES")}
                              for r in results])
        atomic_write_bytes(out / "predictions.csv", table.to_csv(index=False).encode())
    return results


def data_settings(cfg: DictConfig) -> dict[str, Any]:
    """What a classifier checkpoint records about its inputs (read back by ``predict``)."""
    return {
        "frames": OmegaConf.to_container(cfg.frames, resolve=True),
        "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
        "window": int(cfg.data.window),
    }
