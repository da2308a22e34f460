"""Person detector writes a valid box track (random weights: offline, whole-frame fallback)."""

from __future__ import annotations

import pytest

from seizure_lightning.data.boxes import load_box_track
from seizure_lightning.features.detector import build_detector, detect_boxes
from tests.video_fixtures import make_video


@pytest.mark.slow
def test_detect_boxes_random_weights(tmp_path):
    video = make_video(tmp_path / "v.mp4", 25, 12, height=96, width=128)
    model = build_detector("ssdlite320_mobilenet_v3_large", weights=None)
    out = detect_boxes(
        video, tmp_path / "boxes" / "v.csv", model=model, every=3, score_threshold=0.0, batch_size=2
    )
    frames, boxes = load_box_track(out, width=128, height=96, n_frames=12)
    assert len(frames) >= 1 and set(frames.tolist()) <= {0, 3, 6, 9}
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


@pytest.mark.slow
def test_no_detection_falls_back_to_whole_frame(tmp_path):
    video = make_video(tmp_path / "v.mp4", 25, 4, height=96, width=128)
    out = detect_boxes(video, tmp_path / "v.csv", weights=None, score_threshold=2.0)
    assert out.read_text() == "frame,x1,y1,x2,y2\n0,0,0,128,96\n"
