"""Manifests: every bad row reported at once (row + file), skip_bad_rows, contextual clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seizure_lightning.data.manifest import (
    ClipRecord,
    ManifestError,
    ManifestWarning,
    SeizureRecord,
    load_contextual_clips,
    load_seizure_manifest,
)
from tests.video_fixtures import make_video, truncate

HEADER = "video_id,subject_id,label,path,start_s,end_s,boxes\n"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("manifest")
    make_video(root / "videos" / "a.mp4", 25, 50)  # 2 s
    make_video(root / "videos" / "long.mp4", 25, 130, gop=25)  # 5.2 s
    truncate(root / "videos" / "long.mp4", root / "videos" / "trunc.mp4", 0.5)
    (root / "videos" / "corrupt.mp4").write_bytes(b"garbage" * 50)
    (root / "boxes").mkdir()
    (root / "boxes" / "ok.csv").write_text("frame,x1,y1,x2,y2\n0,1,1,30,40\n")
    (root / "boxes" / "cols.csv").write_text("frame,x,y,w,h\n0,1,1,30,40\n")
    (root / "boxes" / "out.csv").write_text("frame,x1,y1,x2,y2\n0,1,1,30,40\n3,1,1,300,40\n")
    return root


def write(root: Path, rows: list[str], name: str = "seizures.csv", header: str = HEADER) -> Path:
    path = root / name
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_good_manifest(data):
    path = write(
        data, ["v1,s1,es,videos/a.mp4,,,boxes/ok.csv", "v2,s2,Pnes,videos/long.mp4,1,3.5,"]
    )
    recs = load_seizure_manifest(path)
    assert recs == [
        SeizureRecord(
            "v1", "s1", "ES", data / "videos/a.mp4", None, None, data / "boxes/ok.csv", 2
        ),
        SeizureRecord("v2", "s2", "PNES", data / "videos/long.mp4", 1.0, 3.5, None, 3),
    ]


BAD_ROWS = {
    "missing file": ("m1,s1,ES,videos/nope.mp4,,,", "video file not found"),
    "truncated": ("m2,s1,ES,videos/trunc.mp4,,,", "truncated"),
    "corrupt": ("m3,s1,ES,videos/corrupt.mp4,,,", "unreadable or corrupt"),
    "zero-length trim": ("m4,s1,ES,videos/a.mp4,1.0,1.0,", "must be < end_s"),
    "one-frame trim": ("m5,s1,ES,videos/a.mp4,1.0,1.01,", "shorter than one frame"),
    "past the end": ("m6,s1,ES,videos/a.mp4,1.0,9.0,", "after the video's end"),
    "unknown label": ("m7,s1,NES,videos/a.mp4,,,", "unknown label 'NES'"),
    "duplicate id": ("v1,s1,ES,videos/a.mp4,,,", "duplicate video_id 'v1' \\(first at row 2\\)"),
    "not a number": ("m8,s1,ES,videos/a.mp4,abc,,", "start_s='abc' is not a number"),
    "box columns": ("m9,s1,ES,videos/a.mp4,,,boxes/cols.csv", "missing column"),
    "box outside": ("m10,s1,ES,videos/a.mp4,,,boxes/out.csv", "row 3: box .* outside"),
    "box missing": ("m11,s1,ES,videos/a.mp4,,,boxes/nope.csv", "box track not found"),
    "empty subject": ("m12,,ES,videos/a.mp4,,,", "empty subject_id"),
}


def test_all_problems_reported_at_once(data):
    rows = ["v1,s1,ES,videos/a.mp4,,,"] + [row for row, _ in BAD_ROWS.values()]
    path = write(data, rows)
    with pytest.raises(ManifestError) as err:
        load_seizure_manifest(path)
    problems = err.value.problems
    assert len(problems) == len(BAD_ROWS)
    for (row, match), (r, problem) in zip(BAD_ROWS.values(), enumerate(problems, start=3)):
        assert problem.startswith(f"row {r} ({row.split(',')[3]})"), problem
        assert pytest.importorskip("re").search(match, problem), (match, problem)
    assert str(path) in str(err.value)


def test_skip_bad_rows_warns_with_each_row(data):
    path = write(
        data,
        ["v1,s1,ES,videos/a.mp4,,,", "v2,s1,XX,videos/a.mp4,,,", "v3,s1,ES,videos/missing.mp4,,,"],
    )
    with pytest.warns(ManifestWarning, match="skipping 2 bad row") as rec:
        recs = load_seizure_manifest(path, skip_bad_rows=True)
    assert [r.video_id for r in recs] == ["v1"]
    msg = str(rec[0].message)
    assert "row 3 (videos/a.mp4): unknown label" in msg and "row 4 (videos/missing.mp4)" in msg


def test_missing_columns_and_relative_paths(data, tmp_path):
    with pytest.raises(ManifestError, match=r"missing required column\(s\) \['label'\]"):
        load_seizure_manifest(
            write(data, ["v1,s1,videos/a.mp4"], "nolabel.csv", "video_id,subject_id,path\n")
        )
    sub = tmp_path / "elsewhere"
    sub.mkdir()
    shutil.copy(data / "videos" / "a.mp4", sub / "clip.mp4")
    recs = load_seizure_manifest(write(sub, ["v1,s1,ES,clip.mp4,,,"]))
    assert recs[0].path == sub / "clip.mp4"
    recs = load_seizure_manifest(write(tmp_path, [f"v1,s1,ES,{sub / 'clip.mp4'},,,"]))
    assert recs[0].path == sub / "clip.mp4"


CTX_HEADER = "path,subject_id,start_s,end_s\n"


@pytest.mark.parametrize(
    ("tail", "bounds"),
    [
        ("drop", [(0, 2), (2, 4)]),
        ("keep", [(0, 2), (2, 4), (4, 5.2)]),
        ("pad", [(0, 2), (2, 4), (4, 5.2)]),
        ("shift", [(0, 2), (2, 4), (3.2, 5.2)]),
    ],
)
def test_contextual_clips(data, tail, bounds):
    path = write(data, ["videos/long.mp4,p1,,", "videos/a.mp4,p2,0.5,1.5"], "ctx.csv", CTX_HEADER)
    clips = load_contextual_clips(path, clip_seconds=2.0, tail=tail, min_tail_seconds=1.0)
    long = [(c.start_s, c.end_s) for c in clips if c.subject_id == "p1"]
    assert long == [pytest.approx(b) for b in bounds]
    assert all(isinstance(c, ClipRecord) for c in clips)
    assert len({c.clip_id for c in clips}) == len(clips)
    # a.mp4's 1-s span is shorter than one clip
    assert [c for c in clips if c.subject_id == "p2"] == (
        []
        if tail in ("drop", "shift")
        else [ClipRecord(clips[-1].clip_id, "p2", data / "videos/a.mp4", 0.5, 1.5, 3)]
    )


def test_contextual_bad_rows(data):
    path = write(
        data,
        ["videos/long.mp4,p1,,", "videos/nope.mp4,p1,,", "videos/corrupt.mp4,,,"],
        "ctx_bad.csv",
        CTX_HEADER,
    )
    with pytest.raises(ManifestError) as err:
        load_contextual_clips(path, clip_seconds=2.0)
    assert [p.split(":")[0] for p in err.value.problems] == [
        "row 3 (videos/nope.mp4)",
        "row 4 (videos/corrupt.mp4)",
    ]
    with pytest.warns(ManifestWarning):
        clips = load_contextual_clips(path, clip_seconds=2.0, skip_bad_rows=True)
    assert len(clips) == 2


def test_contextual_clips_say_what_they_leave_out(data, caplog):
    path = write(data, ["videos/long.mp4,p1,,", "videos/a.mp4,p2,0.5,1.5"], "ctx.csv", CTX_HEADER)
    with caplog.at_level("INFO", logger="seizure_lightning.data.manifest"):
        load_contextual_clips(path, clip_seconds=2.0, tail="drop")
    assert "2 recording(s)" in caplog.text
    # long.mp4 (5.2 s) loses its last 1.2 s; a.mp4's 1-s span is shorter than a clip: all of it
    assert "2.2 s of 6.2 s" in caplog.text and "row 3" in caplog.text


def test_pretraining_without_validation_clips_is_refused(data, tmp_path):
    from seizure_lightning.data.contextual import ContextualClipDataModule

    path = write(data, ["videos/long.mp4,p1,,"], "one.csv", CTX_HEADER)
    kw = dict(manifest=str(path), clip_seconds=2.0, cache_dir=str(tmp_path / "cache"),
              features="online", frames={"resize": [40, 52], "crop": 32},
              backbone={"arch": "resnet18", "weights": None, "device": "cpu",
                        "allow_random_weights": True})
    with pytest.raises(ValueError, match="no validation clips"):
        ContextualClipDataModule(**kw).setup("fit")
    ContextualClipDataModule(**kw, val_fraction=0.0).setup("fit")  # asked for: allowed
