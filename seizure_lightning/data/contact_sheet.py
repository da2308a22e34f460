"""A contact sheet per video: the patient crop at evenly spaced times, so a clinician checks a
box track at a glance (the crop follows the patient, not the nurse, and keeps the whole body)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from seizure_lightning.data.boxes import prepare_track
from seizure_lightning.features.video import iter_source_frames, source_timestamps
from seizure_lightning.utils.io import atomic_write_bytes


def contact_sheet(
    video: str | os.PathLike,
    track: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    n: int = 8,
    margin: float = 0.1,
    smooth_frames: int = 5,
    backend: str = "auto",
    title: str | None = None,
) -> Path:
    """Write ``out_png``: ``n`` frames spread over the video, each with the track's box (after
    the loader's fill, smoothing and margin) drawn, and the crop itself below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    stamps = source_timestamps(video, backend)
    n_source = len(stamps) - 1
    picks = np.unique(np.linspace(0, n_source - 1, num=max(1, n)).round().astype(int))
    frames = np.concatenate([f for _, f in iter_source_frames(video, picks, backend=backend)])
    height, width = frames.shape[1:3]
    boxes = prepare_track(track, n_source, width=width, height=height, margin=margin,
                          smooth_frames=smooth_frames)
    fig, axes = plt.subplots(2, len(picks), figsize=(1.9 * len(picks), 3.6), squeeze=False)
    for col, (index, frame) in enumerate(zip(picks, frames)):
        x1, y1, x2, y2 = boxes[index]
        top, bottom = axes[0, col], axes[1, col]
        top.imshow(frame)
        top.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="#d62728", lw=1.5))
        top.set_title(f"{stamps[index] - stamps[0]:.1f} s", fontsize=8)
        crop = frame[int(y1):max(int(np.ceil(y2)), int(y1) + 1),
                     int(x1):max(int(np.ceil(x2)), int(x1) + 1)]
        bottom.imshow(crop)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("frame + box", fontsize=8)
    axes[1, 0].set_ylabel("crop", fontsize=8)
    fig.suptitle(title or Path(video).name, fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return atomic_write_bytes(out_png, buf.getvalue())
