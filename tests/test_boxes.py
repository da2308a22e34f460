"""Box tracks: validation errors name file and row; fill, smoothing, margin, clamp."""

from __future__ import annotations

import numpy as np
import pytest

from seizure_lightning.data.boxes import (
    BoxTrackError,
    clamp_boxes,
    expand_to_aspect,
    fill_track,
    load_box_track,
    pad_boxes,
    prepare_track,
    smooth_track,
)


def write(tmp_path, text, name="track.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_and_fill(tmp_path):
    path = write(tmp_path, "frame,x1,y1,x2,y2\n4,10,10,20,20\n2,0,0,10,10\n")
    frames, boxes = load_box_track(path, width=64, height=48)
    assert frames.tolist() == [2, 4]
    track = fill_track(frames, boxes, 7, width=64, height=48)
    assert track.shape == (7, 4)
    np.testing.assert_allclose(track[0], [0, 0, 10, 10])  # held before the first
    np.testing.assert_allclose(track[3], [5, 5, 15, 15])  # interpolated
    np.testing.assert_allclose(track[6], [10, 10, 20, 20])  # held after the last


def test_empty_track_is_whole_frame():
    track = fill_track(np.zeros(0, int), np.zeros((0, 4)), 3, width=64, height=48)
    np.testing.assert_allclose(track, [[0, 0, 64, 48]] * 3)


def test_smooth_margin_clamp_aspect():
    boxes = np.array([[0, 0, 10, 10]] * 5 + [[10, 0, 20, 10]] * 5, dtype=float)
    sm = smooth_track(boxes, 5)
    assert sm.shape == boxes.shape and 0 < sm[5, 0] < 10 and sm[0, 0] == 0
    padded = pad_boxes(np.array([[10.0, 10, 20, 30]]), 0.1)
    np.testing.assert_allclose(padded, [[9, 8, 21, 32]])
    np.testing.assert_allclose(
        clamp_boxes(np.array([[-5.0, -5, 70, 50]]), 64, 48), [[0, 0, 64, 48]]
    )
    wide = expand_to_aspect(np.array([[10.0, 0, 20, 40]]), 2.0)
    assert (wide[0, 2] - wide[0, 0]) / (wide[0, 3] - wide[0, 1]) == pytest.approx(2.0)


def test_prepare_track(tmp_path):
    path = write(tmp_path, "frame,x1,y1,x2,y2\n0,0,0,64,48\n9,10,10,30,30\n")
    track = prepare_track(path, 10, width=64, height=48, margin=0.2, smooth_frames=3)
    assert track.shape == (10, 4)
    assert (track[:, 0] >= 0).all() and (track[:, 2] <= 64).all() and (track[:, 3] <= 48).all()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("frame,left,top,right,bottom\n0,1,1,5,5\n", "missing column"),
        ("frame,x1,y1,x2,y2\n0,1,1,5,5\n1,-30,1,5,5\n", "row 3: box .* outside the 64x48"),
        ("frame,x1,y1,x2,y2\n0,1,1,5,5\n1,1,1,90,5\n", "row 3: box .* outside"),
        ("frame,x1,y1,x2,y2\n0,5,1,1,5\n", "row 2: empty box"),
        ("frame,x1,y1,x2,y2\n0,1,1,abc,5\n", "row 2: non-numeric"),
        ("frame,x1,y1,x2,y2\n0,1,1,5,5\n0,1,1,5,5\n", "row 3: frame 0 repeated"),
        ("frame,x1,y1,x2,y2\n99,1,1,5,5\n", "row 2: frame 99 beyond"),
    ],
)
def test_bad_tracks_name_file_and_row(tmp_path, text, match):
    path = write(tmp_path, text, "bad_track.csv")
    with pytest.raises(BoxTrackError, match=match) as err:
        load_box_track(path, width=64, height=48, n_frames=10)
    assert "bad_track.csv" in str(err.value)
