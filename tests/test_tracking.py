"""The patient, not the nurse: tracks from per-frame person detections, the patient's kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seizure_lightning.data.boxes import load_box_track
from seizure_lightning.features.tracking import choose_patient, iou, link_tracks, patient_score
from tests.video_fixtures import make_video

W, H = 320, 240
PATIENT = np.array([110.0, 90.0, 230.0, 200.0])  # in bed, moves a little


def stream(n: int = 60, nurse_from: int = 15, nurse_to: int = 45, seed: int = 0):
    """Per sampled frame: the patient (score 0.55, jitter of a few pixels) and, from
    ``nurse_from`` to ``nurse_to``, a nurse who walks in from the left, stands by the bed and
    leaves, scored HIGHER than the patient (0.9: standing, unoccluded)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        boxes = [PATIENT + rng.normal(0, 2, 4)]
        scores = [0.55]
        if nurse_from <= k < nurse_to:
            phase = (k - nurse_from) / (nurse_to - nurse_from)
            x = 10 + 60 * min(phase * 3, 1) - 60 * max(phase * 3 - 2, 0)  # in, stand, out
            boxes.append(np.array([x, 30.0, x + 60, 230.0]))
            scores.append(0.9)
        out.append((5 * k, np.stack(boxes), np.asarray(scores)))
    return out


def test_iou() -> None:
    a = np.array([[0, 0, 10, 10]])
    assert iou(a, a)[0, 0] == pytest.approx(1.0)
    assert iou(a, np.array([[5, 0, 15, 10]]))[0, 0] == pytest.approx(50 / 150)
    assert iou(a, np.array([[20, 20, 30, 30]]))[0, 0] == 0.0


def test_nurse_who_enters_stands_by_and_leaves_is_not_the_patient() -> None:
    detections = stream()
    tracks = link_tracks(detections)
    assert len(tracks) == 2  # one per person, not one per frame
    chosen = choose_patient(tracks, len(detections), W, H)
    patient = tracks[chosen]
    assert len(patient.frames) == 60
    assert np.allclose(np.stack(patient.boxes).mean(0), PATIENT, atol=2)
    # the per-frame "best score" rule it replaces picks the nurse for 30 of 60 frames
    by_score = [boxes[np.argmax(scores)] for _, boxes, scores in detections]
    assert sum(iou(b[None], PATIENT[None])[0, 0] < 0.5 for b in by_score) == 30


def test_a_short_gap_keeps_one_track_and_the_bed_region_decides_a_tie() -> None:
    detections = stream(nurse_from=0, nurse_to=0)
    for k in (20, 21):  # the patient missed for two sampled frames (occluded)
        detections[k] = (detections[k][0], np.zeros((0, 4)), np.zeros(0))
    assert len(link_tracks(detections, max_gap=3)) == 1
    assert len(link_tracks(detections, max_gap=1)) == 2
    # two people present the whole time, both still: the one on the bed is the patient
    visitor = np.array([250.0, 40.0, 310.0, 235.0])
    both = [(f, np.vstack([visitor[None], b]), np.concatenate([[0.9], s]))
            for f, b, s in stream(nurse_from=0, nurse_to=0)]
    tracks = link_tracks(both)
    chosen = choose_patient(tracks, len(both), W, H, bed=(100, 80, 240, 210))
    assert np.allclose(tracks[chosen].boxes[0], both[0][1][1])
    scores = [patient_score(t, len(both), W, H, (100, 80, 240, 210)) for t in tracks]
    assert scores[chosen]["on_bed"] > 0.5 > scores[1 - chosen]["on_bed"]


class ScriptedDetector(torch.nn.Module):
    """A detector whose outputs follow :func:`stream` frame by frame (labels: 1 = person)."""

    def __init__(self, detections) -> None:
        super().__init__()
        self.detections, self.calls = detections, 0

    def forward(self, images):
        out = []
        for _ in images:
            _, boxes, scores = self.detections[self.calls]
            self.calls += 1
            out.append({"boxes": torch.as_tensor(boxes, dtype=torch.float32),
                        "scores": torch.as_tensor(scores, dtype=torch.float32),
                        "labels": torch.ones(len(scores), dtype=torch.int64)})
        return out


def test_detect_boxes_writes_the_patients_track_and_a_contact_sheet(tmp_path: Path) -> None:
    from seizure_lightning.data.contact_sheet import contact_sheet
    from seizure_lightning.features.detector import detect_boxes

    video = make_video(tmp_path / "v.mp4", 25, 40, height=H, width=W)
    detections = stream(n=8, nurse_from=2, nurse_to=6)
    out = detect_boxes(video, tmp_path / "v.csv", model=ScriptedDetector(detections), every=5,
                       score_threshold=0.3, batch_size=4)
    frames, boxes = load_box_track(out, width=W, height=H, n_frames=40)
    assert frames.tolist() == [0, 5, 10, 15, 20, 25, 30, 35]
    assert (iou(boxes, PATIENT[None])[:, 0] > 0.8).all()  # never the nurse
    sheet = contact_sheet(video, out, tmp_path / "sheet.png", n=4)
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_detect_task_keeps_a_users_track_and_writes_contact_sheets(cfg_factory, tmp_path: Path,
                                                                    shared_root: Path,
                                                                    tiny_dataset: Path) -> None:
    """Rows that already name a box track keep it (the user's override); every video gets a
    contact sheet."""
    import pandas as pd

    from seizure_lightning.tasks import run_task

    cfg = cfg_factory("+experiment=detect", "detect.weights=null", f"detect.out={tmp_path}/det",
                      shared_root=shared_root)
    manifest = Path(run_task(cfg))
    out = pd.read_csv(manifest)
    given = pd.read_csv(tiny_dataset / "seizures.csv")
    assert given.boxes.notna().all()
    expected = [str((tiny_dataset / b).resolve()) for b in given.boxes]
    assert sorted(out.boxes) == sorted(expected)
    sheets = sorted((tmp_path / "det" / "contact_sheets").glob("*.png"))
    assert [p.stem for p in sheets] == sorted(out.video_id)
