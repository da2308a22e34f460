"""Task ``predict``: classify new videos with a fine-tuned checkpoint: ``predict.ckpt``, or of a
LOSO sweep's model (``predict.sweep``, ``predict.model``) the one trained on all patients
(``+experiment=train_all``), or one fold's (``predict.subject``).

The videos (``predict.video`` [+ ``predict.boxes``], or every row of ``predict.manifest``) go
through the same path as a LOSO fold's test subject: a seizure DataModule with the frames,
backbone, window and stride stored in the checkpoint (descriptors cached like any manifest's),
``engine.inference.predict_videos`` and the checkpoint's own decision rule (the fold's argmax or
inner-validation threshold, its ``evaluation.fold_record.Decision``; ``predict.threshold``
overrides it). Writes ``prediction.json`` (with the checkpoint it used) and a p_PNES timeline
PNG per video.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig

from seizure_lightning.engine.inference import CKPT_KEY, predict_videos
from seizure_lightning.engine.trainer import build_datamodule, build_trainer
from seizure_lightning.evaluation.fold_record import (
    Decision,
    FoldRecord,
    FoldRecordError,
    record_path,
)
from seizure_lightning.lightning_modules.classifier import ClassifierModule
from seizure_lightning.loso.all_patients import (
    MODEL_FILE,
    SweepError,
    all_patients_dir,
    train_all_command,
)
from seizure_lightning.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from seizure_lightning.utils.logging import get_logger

log = get_logger(__name__)


def load_classifier(ckpt: str | Path) -> tuple[ClassifierModule, dict[str, Any]]:
    """The classifier and what its checkpoint records about its inputs and decision rule."""
    ckpt = Path(ckpt)
    if not ckpt.is_file():
        raise FileNotFoundError(f"predict.ckpt not found: {ckpt}")
    settings = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True).get(CKPT_KEY)
    if settings is None:
        raise ValueError(f"{ckpt} has no {CKPT_KEY!r} section: not a fine-tuned classifier "
                         "checkpoint")
    module = ClassifierModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    return module.eval(), settings


def checkpoint_path(cfg: DictConfig) -> Path:
    """``predict.ckpt``; else, of the LOSO sweep ``predict.sweep`` and its model
    ``predict.model``, the model trained on all patients (``+experiment=train_all``), or with
    ``predict.subject`` that fold's tested checkpoint."""
    p = cfg.predict
    if p.get("ckpt"):
        return Path(p.ckpt).expanduser()
    if not (p.get("sweep") and p.get("model")):
        raise ValueError("set predict.sweep=logs/loso/<dataset> predict.model=<model> (the model "
                         "trained on all patients; + predict.subject=<subject>: one fold's), or "
                         "predict.ckpt=PATH")
    if p.get("subject"):
        return fold_checkpoint(Path(p.sweep).expanduser() / str(p.model) / f"fold={p.subject}")
    found = all_patients_dir(p.sweep, p.model) / MODEL_FILE
    if not found.is_file():
        raise SweepError(f"{found} does not exist: train the model on all patients first, "
                         f"`{train_all_command(p.sweep, p.model)}`, or pick one fold's model "
                         "with predict.subject=<subject>")
    return found


def fold_checkpoint(fold_dir: Path) -> Path:
    """The weights a LOSO fold tested, stamped with its decision rule: with
    ``loso.checkpoint=best`` the chosen epoch's checkpoint beside ``last.ckpt`` (named in the
    fold's record), else ``checkpoints/last.ckpt`` (a nested selection's chosen candidate is
    copied there)."""
    last = fold_dir / "checkpoints" / "last.ckpt"
    try:
        tested = FoldRecord.read(record_path(fold_dir)).tested_checkpoint
    except FoldRecordError:
        return last
    here = fold_dir / "checkpoints" / Path(tested).name if tested else last
    return here if here.is_file() else last


def prediction_manifest(cfg: DictConfig, out: Path) -> Path:
    """``predict.manifest``, or a one-row manifest of ``predict.video`` (+ ``predict.boxes``)
    written into the run folder."""
    p = cfg.predict
    if p.get("manifest"):
        return Path(p.manifest).expanduser().resolve()
    if not p.get("video"):
        raise ValueError("set predict.video=PATH (and optionally predict.boxes) or predict.manifest")
    video = Path(p.video).expanduser().resolve()
    if not video.is_file():
        raise FileNotFoundError(f"predict.video not found: {video}")
    boxes = Path(p.boxes).expanduser().resolve() if p.get("boxes") else None
    if boxes is not None and not boxes.is_file():
        raise FileNotFoundError(f"predict.boxes not found: {boxes}")
    row = {"video_id": video.stem, "path": str(video), "boxes": str(boxes or "")}
    path = out / "predict_manifest.csv"
    atomic_write_text(path, pd.DataFrame([row]).to_csv(index=False))
    return path


def decision_of(cfg: DictConfig, settings: dict[str, Any]) -> Decision:
    """The rule ``predict`` applies: ``predict.threshold`` if set, else the checkpoint's (its
    fold's; argmax when the checkpoint has none)."""
    stored = Decision.from_dict(settings.get("decision"))
    if cfg.predict.get("threshold") is not None:
        given = float(cfg.predict.threshold)
        log.info("predict.threshold=%g overrides the checkpoint's rule %s", given, stored)
        return Decision("predict.threshold", given)
    return stored


def timeline_png(result: dict[str, Any]) -> bytes:
    """p_PNES of each window over time, the decision threshold and the video-level decision."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    threshold = result["threshold"]
    fig = Figure(figsize=(7, 2.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    w = result["windows"]
    mid = [(x["start_s"] + x["end_s"]) / 2 for x in w]
    ax.hlines([x["p_PNES"] for x in w], [x["start_s"] for x in w], [x["end_s"] for x in w],
              color="#c44e52", alpha=0.3)
    ax.plot(mid, [x["p_PNES"] for x in w], "o-", color="#c44e52", ms=3, label="window p_PNES")
    line = 0.5 if threshold is None else threshold
    ax.axhline(line, ls="--", color="grey", lw=1,
               label="argmax (0.5)" if threshold is None else f"threshold {threshold:.3g}")
    ax.axhline(result["p_PNES"], color="black", lw=1, label=f"video p_PNES {result['p_PNES']:.2f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time in video (s)")
    ax.set_ylabel("p_PNES")
    ax.set_title(f"{result['video_id']}: predicted {result['label']}")
    ax.legend(fontsize=7, loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    """Classify ``predict.video`` or every video of ``predict.manifest``."""
    out = Path(cfg.predict.out)
    ckpt = checkpoint_path(cfg)
    module, settings = load_classifier(ckpt)
    log.info("checkpoint %s (%s)", ckpt, settings.get("trained_on", "one LOSO fold or a run"))
    decision = decision_of(cfg, settings)
    stride = int(cfg.predict.get("stride") or settings.get("stride", settings["window"] // 2))
    # the checkpoint's backbone; random weights on purpose: the checkpoint's opt-in or this run's
    allow = settings["backbone"].get("allow_random_weights") or cfg.backbone.get(
        "allow_random_weights", False)
    datamodule = build_datamodule(
        cfg, manifest=str(prediction_manifest(cfg, out)), labelled=False, test_subject=None,
        split=None, frames=settings["frames"],
        backbone={**settings["backbone"], "allow_random_weights": bool(allow)},
        window=int(settings["window"]), test_stride=stride,
        # the fold's per-subject standardisation: by each subject_id of the manifest (a video
        # without one is standardised by its own frames)
        subject_norm=bool(settings.get("subject_norm", False)),
    )
    datamodule.prepare_data()
    datamodule.setup("predict")
    trainer = build_trainer(cfg, out, [], [], devices=1, num_nodes=1, strategy="auto",
                            enable_model_summary=False)
    videos, per_window = predict_videos(trainer, module, datamodule, "all",
                                        threshold=decision.threshold)
    results = []
    for row in videos.itertuples(index=False):
        mine = per_window[per_window.video_id == row.video_id]
        result = {
            "video_id": row.video_id, "p_ES": float(row.p_ES), "p_PNES": float(row.p_PNES),
            "label": row.pred, "decision": decision.rule, "threshold": decision.threshold,
            "checkpoint": str(ckpt.resolve()),
            "true_label": row.label or None, "frames": int(row.frames), "fps": float(row.fps),
            "windows": [{"start_s": float(w.start_s), "end_s": float(w.end_s),
                         "p_ES": float(w.p_ES), "p_PNES": float(w.p_PNES)}
                        for w in mine.itertuples(index=False)],
        }
        folder = out if len(videos) == 1 else out / row.video_id
        atomic_write_json(folder / "prediction.json", result)
        atomic_write_bytes(folder / "timeline.png", timeline_png(result))
        log.info("%s: %s (p_PNES %.3f)", row.video_id, row.pred, row.p_PNES)
        results.append(result)
    if len(videos) > 1:
        table = videos[["video_id", "pred", "p_ES", "p_PNES"]].rename(columns={"pred": "label"})
        atomic_write_text(out / "predictions.csv", table.to_csv(index=False))
    return results
