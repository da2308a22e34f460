"""Task ``detect``: patient box tracks for a seizure manifest with a torchvision detector.

Writes ``<out>/boxes/<video_id>.csv`` (``frame,x1,y1,x2,y2`` in source frames and pixels): the
patient's track among every person detected (``features/tracking.py``), or the manifest's own
``boxes`` file where a row has one (a user's override wins; ``detect.redetect=true`` ignores it);
``<out>/contact_sheets/<video_id>.png`` (the crop over time, to check at a glance); and
``<out>/seizures.csv``: the manifest with its ``boxes`` column filled (absolute paths).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from seizure_lightning.engine.trainer import build_datamodule
from seizure_lightning.utils.io import atomic_write_text
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


def detect(cfg: DictConfig) -> str:
    """Detect the patient in every video of the seizure manifest; write tracks + a manifest."""
    from seizure_lightning.data.contact_sheet import contact_sheet
    from seizure_lightning.features.detector import build_detector, detect_boxes
    from seizure_lightning.features.frame_encoder import resolve_device
    from seizure_lightning.utils.progress import progress_iter

    d = cfg.detect
    datamodule = build_datamodule(cfg)
    manifest = datamodule.manifest_path()
    out = Path(d.out) if d.get("out") else Path(cfg.paths.output_dir)
    model = build_detector(d.arch, d.weights)
    device = str(resolve_device(d.device))
    bed = tuple(float(v) for v in d.bed) if d.get("bed") else None
    rows = []
    for record in progress_iter(datamodule.records, desc="detect", unit="video"):
        csv = out / "boxes" / f"{record.video_id}.csv"
        if record.boxes is not None and not d.get("redetect", False):
            csv = Path(record.boxes)  # the user's own track overrides the detector
            log.info("%s: keeping the manifest's box track %s", record.video_id, csv)
        elif not csv.is_file():  # resumable: finished tracks are kept
            detect_boxes(record.path, csv, model=model, every=int(d.every_n_frames),
                         score_threshold=float(d.score_threshold), device=device,
                         backend=cfg.frames.decoder, bed=bed)
        sheet = out / "contact_sheets" / f"{record.video_id}.png"
        if d.get("contact_sheets", True) and not sheet.is_file():
            contact_sheet(record.path, csv, sheet, n=int(d.get("contact_sheet_frames", 8)),
                          margin=float(cfg.frames.box_margin),
                          smooth_frames=int(cfg.frames.box_smooth_frames),
                          backend=cfg.frames.decoder,
                          title=f"{record.video_id} ({record.subject_id}): patient crop over time")
        rows.append({"video_id": record.video_id, "subject_id": record.subject_id,
                     "label": record.label, "path": str(record.path),
                     "start_s": "" if record.start_s is None else record.start_s,
                     "end_s": "" if record.end_s is None else record.end_s,
                     "boxes": str(csv.resolve())})
    atomic_write_text(out / "seizures.csv", pd.DataFrame(rows).to_csv(index=False))
    log.info("box tracks of %d videos from %s: %s", len(rows), manifest, out / "seizures.csv")
    return str(out / "seizures.csv")
