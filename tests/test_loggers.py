"""Privacy of what reaches the experiment tracker."""

from __future__ import annotations

from seizure_lightning.engine.loggers import REDACTED, looks_like_path, redact_paths


def test_path_like_strings_are_redacted() -> None:
    cfg = {
        "data": {"manifest": "/secure/emu/patient_0042/seizures.csv", "batch_size": 16,
                 "subject": "P07"},
        "model": {"init_from": "runs/x/encoder.pt", "name": "paper"},
        "overrides": ["data.manifest=/secure/a.csv", "model=paper"],
        "video": "sz_0042.mp4",
    }
    out = redact_paths(cfg)
    assert out["data"]["manifest"] == REDACTED
    assert out["model"]["init_from"] == REDACTED
    assert out["video"] == REDACTED
    assert out["overrides"] == [REDACTED, "model=paper"]
    assert out["data"]["batch_size"] == 16 and out["data"]["subject"] == "P07"
    assert out["model"]["name"] == "paper"


def test_looks_like_path() -> None:
    assert looks_like_path("a/b")
    assert looks_like_path("x.MP4")
    assert not looks_like_path("ES")
    assert not looks_like_path(3)
