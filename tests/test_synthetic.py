"""Synthetic EMU benchmark: contract of the generated folder, determinism, bad input."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import time
from fractions import Fraction
from pathlib import Path

import decord
import numpy as np
import pytest
from omegaconf import OmegaConf

from seizure_lightning.synthetic import (
    OVERRIDE_KEYS,
    PRESETS,
    SynthConfig,
    ensure_dataset,
    generate,
    resolve_config,
)
from seizure_lightning.synthetic import motion as mo
from seizure_lightning.synthetic.generator import _subject_look, build_scene, plan_dataset
from seizure_lightning.synthetic.presets import params_hash

CONF = Path(__file__).resolve().parents[1] / "conf"
SMALL = {
    "subjects_es": 1,
    "subjects_pnes": 1,
    "seizures_es": 1,
    "seizures_pnes": 1,
    "seizure_seconds": [3.0, 4.0],
    "contextual_recordings": 1,
    "contextual_seconds": [3.0, 4.0],
    "resolutions": [[96, 72]],
    "embedded_fraction": 1.0,
    "embed_context_seconds": [0.5, 1.0],
}


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _frames(path: Path) -> np.ndarray:
    vr = decord.VideoReader(str(path))
    return vr.get_batch(list(range(len(vr)))).asnumpy()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    t0 = time.perf_counter()
    root = generate(
        tmp_path_factory.mktemp("synth") / "tiny", preset="tiny", seed=0, progress=False
    )
    return root, time.perf_counter() - t0


def test_tiny_generates_in_seconds(tiny: tuple[Path, float]) -> None:
    root, seconds = tiny
    assert seconds < 30.0
    assert sorted(p.name for p in root.iterdir()) == [
        "README.md", "boxes", "contextual.csv", "meta.json", "seizures.csv", "videos",
    ]  # fmt: skip
    assert not list(root.parent.glob(".*tmp"))  # no temp folder left behind


def test_manifests_follow_the_contract(tiny: tuple[Path, float]) -> None:
    root, _ = tiny
    cfg = PRESETS["tiny"]
    cols, rows = _rows(root / "seizures.csv")
    assert cols == ["video_id", "subject_id", "label", "path", "start_s", "end_s", "boxes"]
    assert len({r["video_id"] for r in rows}) == len(rows)
    labels = [r["label"] for r in rows]
    assert labels.count("ES") == cfg.seizures_es and labels.count("PNES") == cfg.seizures_pnes
    by_subject: dict[str, set[str]] = {}
    for r in rows:
        by_subject.setdefault(r["subject_id"], set()).add(r["label"])
        assert not Path(r["path"]).is_absolute() and (root / r["path"]).is_file()
        assert (root / r["boxes"]).is_file()
        assert (r["start_s"] == "") == (r["end_s"] == "")
    assert all(len(v) == 1 for v in by_subject.values())  # one class per subject
    assert len(by_subject) == cfg.subjects_es + cfg.subjects_pnes
    assert any(r["start_s"] for r in rows)  # seed 0 embeds at least one seizure
    cols, ctx = _rows(root / "contextual.csv")
    assert cols == ["path", "subject_id", "start_s", "end_s"]
    assert len(ctx) == cfg.contextual_recordings
    assert all((root / r["path"]).is_file() and r["subject_id"] in by_subject for r in ctx)
    meta = json.loads((root / "meta.json").read_text())
    assert meta["complete"] and meta["seed"] == 0 and meta["preset"] == "tiny"
    assert meta["params"] == cfg.to_dict() and meta["counts"]["videos"] == len(rows) + len(ctx)


def test_videos_decode_to_intended_frames_fps_and_size(tiny: tuple[Path, float]) -> None:
    root, _ = tiny
    cfg = resolve_config("tiny")
    _, plans = plan_dataset(cfg, 0)
    assert {str(Fraction(p.fps)) for p in plans} == set(cfg.fps_choices)
    _, rows = _rows(root / "seizures.csv")
    sz = {r["video_id"]: r for r in rows}
    for plan in plans:
        vr = decord.VideoReader(str(root / "videos" / f"{plan.file_id}.mp4"))
        w, h = plan.subject.resolution
        assert len(vr) == plan.n_frames
        assert vr.get_avg_fps() == pytest.approx(float(plan.fps), abs=1e-3)
        assert vr[0].shape == (h, w, 3)
        if plan.kind != "seizure":
            lo, hi = cfg.contextual_seconds
            assert lo - 0.1 <= plan.n_frames / plan.fps <= hi + 0.1
            continue
        row = sz[plan.file_id]
        if row["start_s"]:
            start, end = float(row["start_s"]), float(row["end_s"])
            assert 0 < start < end < len(vr) / float(plan.fps)
            assert round(start * float(plan.fps)) == plan.n_pre
        boxes = np.loadtxt(root / row["boxes"], delimiter=",", skiprows=1, ndmin=2)
        assert boxes[:, 0].tolist() == list(range(len(vr)))  # one row per source frame
        x1, y1, x2, y2 = boxes[:, 1:].T
        assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= w) & (y2 <= h))
        assert np.all((x2 > x1) & (y2 > y1))


def test_same_seed_same_data_different_seed_different(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", seed=3, progress=False, **SMALL)
    b = generate(tmp_path / "b", seed=3, progress=False, workers=2, **SMALL)
    c = generate(tmp_path / "c", seed=4, progress=False, **SMALL)
    for name in ("seizures.csv", "contextual.csv", "meta.json", "README.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    _, rows = _rows(a / "seizures.csv")
    first = rows[0]
    assert (a / first["boxes"]).read_bytes() == (b / first["boxes"]).read_bytes()
    fa, fb = _frames(a / first["path"]), _frames(b / first["path"])
    assert fa.shape == fb.shape and np.array_equal(fa, fb)
    assert (a / "seizures.csv").read_bytes() != (c / "seizures.csv").read_bytes()
    ctx_a, ctx_c = _frames(a / "videos/CTX0001.mp4"), _frames(c / "videos/CTX0001.mp4")
    assert ctx_a.shape != ctx_c.shape or not np.array_equal(ctx_a, ctx_c)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"subjects_es": -1}, "subjects_es"),
        ({"subjects_es": 2.5}, "subjects_es"),
        ({"subjects_es": 0, "subjects_pnes": 0}, "subjects_es"),
        ({"subjects_es": 5, "seizures_es": 4}, "seizures_es"),
        ({"seizure_seconds": [10, 5]}, "seizure_seconds"),
        ({"seizure_seconds": 10}, "seizure_seconds"),
        ({"contextual_seconds": [0, 5]}, "contextual_seconds"),
        ({"fps_choices": ["fast"]}, "fps_choices"),
        ({"fps_choices": []}, "fps_choices"),
        ({"resolutions": [[101, 100]]}, "resolutions"),
        ({"resolutions": [[320]]}, "resolutions"),
        ({"embedded_fraction": 1.5}, "embedded_fraction"),
        ({"crf": 60}, "crf"),
        ({"subject_count": 3}, "subject_count"),
        ({"preset": "huge"}, "preset"),
        ({"seed": -1}, "seed"),
        ({"workers": 0}, "workers"),
    ],
)
def test_invalid_parameters_name_the_parameter(tmp_path: Path, overrides: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        generate(tmp_path / "out", progress=False, **overrides)
    assert not (tmp_path / "out").exists()


def test_refuses_foreign_folder_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="overwrite"):
        generate(out, progress=False, **SMALL)
    assert (out / "mine.txt").read_text() == "user data"
    generate(out, overwrite=True, progress=False, **SMALL)
    assert not (out / "mine.txt").exists() and (out / "meta.json").is_file()
    stamp = (out / "meta.json").stat().st_mtime_ns
    assert generate(out, progress=False, **SMALL) == out.absolute()  # same parameters: reused
    assert (out / "meta.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError):
        generate(out, seed=1, progress=False, **SMALL)  # other parameters: refused


def test_ensure_dataset_caches_by_parameters(tmp_path: Path) -> None:
    first = ensure_dataset(tmp_path, "tiny", 0, progress=False, **SMALL)
    stamp = (first / "meta.json").stat().st_mtime_ns
    assert ensure_dataset(tmp_path, "tiny", 0, progress=False, **SMALL) == first
    assert (first / "meta.json").stat().st_mtime_ns == stamp
    other = ensure_dataset(tmp_path, "tiny", 0, progress=False, **{**SMALL, "crf": 30})
    assert other != first and other.parent == first.parent
    shown = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))  # no locks
    assert shown == sorted([first.name, other.name])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_hydra_configs_match_generate(preset: str) -> None:
    cfg = OmegaConf.load(CONF / "synth" / f"{preset}.yaml")
    assert cfg.preset == preset and cfg.seed == 0 and cfg.out is None and cfg.overwrite is False
    keys = set(cfg.keys()) - {"preset", "seed", "out", "overwrite", "workers"}
    assert keys == set(OVERRIDE_KEYS)
    overrides = {k: cfg[k] for k in keys}
    assert resolve_config(cfg.preset, **overrides) == PRESETS[preset]
    assert OmegaConf.load(CONF / "experiment" / "synthesize.yaml").task == "synthesize"


def test_overrides_accept_hydra_lists() -> None:
    over = OmegaConf.create({"fps_choices": [25, "30000/1001"], "resolutions": [[320, 240]]})
    cfg = resolve_config("demo", **over)
    assert cfg.fps_choices == ("25", "30000/1001") and cfg.resolutions == ((320, 240),)
    assert isinstance(cfg, SynthConfig)


def test_single_frame_pose_distribution_matches_between_classes() -> None:
    """Pooled per-frame joint signals: same distribution; temporal synchrony: different."""
    t = np.arange(20 * 25) / 25.0
    pooled: dict[str, list[np.ndarray]] = {"ES": [], "PNES": []}
    sync: dict[str, list[float]] = {"ES": [], "PNES": []}
    for label in pooled:
        for k in range(40):
            sig = mo.seizure(np.random.default_rng([k, 1 if label == "ES" else 2]), t, label)
            pooled[label].append(sig)
            vel = np.diff(sig[:, :8], axis=0)
            corr = np.corrcoef(vel.T)
            sync[label].append(float(np.nanmean(corr[np.triu_indices(8, 1)])))
    es, pnes = np.concatenate(pooled["ES"]), np.concatenate(pooled["PNES"])
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        assert np.quantile(es, q) == pytest.approx(np.quantile(pnes, q), abs=0.12)
    assert np.abs(es).mean() == pytest.approx(np.abs(pnes).mean(), rel=0.2)
    assert np.mean(sync["ES"]) > np.mean(sync["PNES"]) + 0.2


def test_rhythmic_bouts_cover_their_share_at_everyday_rates() -> None:
    fps = 25.0
    t = np.arange(int(600 * fps)) / fps
    present = np.ones(len(t), bool)
    present[: int(60 * fps)] = False  # an empty bed: no movement there
    assert not mo.rhythmic_bouts(np.random.default_rng(0), t, present, 0.0).any()
    sig = mo.rhythmic_bouts(np.random.default_rng(0), t, present, 0.4)
    moving = np.abs(sig).max(axis=1) > 1e-3
    assert not moving[: int(60 * fps)].any()
    assert 0.25 < moving[int(60 * fps) :].mean() < 0.55
    assert (np.abs(sig) > 1e-3).sum(axis=1).max() <= 4  # local: one limb, the head or the trunk
    spec = np.abs(np.fft.rfft(sig[int(60 * fps) :], axis=0)) ** 2
    freqs = np.fft.rfftfreq(len(t) - int(60 * fps), 1 / fps)
    power = spec.sum(axis=1)
    in_band = power[(freqs >= 0.5) & (freqs <= 6.0)].sum() / power[freqs > 0].sum()
    assert in_band > 0.8


def test_contextual_rhythm_changes_only_contextual_video() -> None:
    still, rhythm = (resolve_config("tiny", contextual_rhythm=r) for r in (0.0, 0.6))
    # datasets made before the parameter existed keep their hash (and cache folder)
    assert params_hash(still, 0) != params_hash(rhythm, 0)
    added = ("contextual_rhythm", "contextual_rhythm_in_sleep", "envelope_swap")
    legacy = {k: v for k, v in still.to_dict().items() if k not in added}
    text = json.dumps(
        {"params": legacy, "seed": 0, "version": "1.0.0"}, sort_keys=True, separators=(",", ":")
    )
    assert params_hash(still, 0) == hashlib.sha256(text.encode()).hexdigest()[:16]
    _, plans = plan_dataset(rhythm, 0)
    assert plan_dataset(still, 0)[1] == plans
    for plan in plans:
        look = _subject_look(0, plan.subject, rhythm.noise_std)
        a = build_scene(still, 0, plan, *look).motion.channels
        b = build_scene(rhythm, 0, plan, *look).motion.channels
        assert np.array_equal(a, b) == (plan.kind == "seizure"), plan.file_id


def _sync_and_pauses(label: str, swap: bool, n: int = 30) -> tuple[float, float]:
    """Mean inter-limb velocity correlation and mean share of paused time in the seizure's middle
    (energy below a tenth of its 90th percentile) over ``n`` seizures of ``label``."""
    t = np.arange(30 * 25) / 25.0
    sync, paused = [], []
    for k in range(n):
        sig = mo.seizure(np.random.default_rng([k, 7 if label == "ES" else 8]), t, label, swap=swap)
        vel = np.diff(sig[:, :8], axis=0)
        sync.append(float(np.nanmean(np.corrcoef(vel.T)[np.triu_indices(8, 1)])))
        energy = np.convolve(np.abs(vel).sum(1), np.ones(13) / 13, "same")
        level = np.quantile(energy, 0.9)
        on = np.flatnonzero(energy > 0.1 * level)
        middle = energy[on[0] + (on[-1] - on[0]) // 5: on[-1] - (on[-1] - on[0]) // 5]
        paused.append(float(np.mean(middle < 0.1 * level)))
    return float(np.mean(sync)), float(np.mean(paused))


def test_swapped_envelope_keeps_the_class_organisation_and_takes_the_other_envelope() -> None:
    es, es_swapped = _sync_and_pauses("ES", False), _sync_and_pauses("ES", True)
    pnes, pnes_swapped = _sync_and_pauses("PNES", False), _sync_and_pauses("PNES", True)
    # synchrony across the limbs stays with the class
    assert min(es[0], es_swapped[0]) > max(pnes[0], pnes_swapped[0]) + 0.4
    # pauses holding a posture (PNES's envelope) go with the envelope, not the class
    assert es[1] == 0.0 and pnes_swapped[1] == 0.0
    assert es_swapped[1] > 0.1 and pnes[1] > 0.1


def test_envelope_swap_marks_a_share_of_each_class_and_nothing_else() -> None:
    base = resolve_config("bench")
    swapped = resolve_config("bench", envelope_swap=0.5)
    assert params_hash(resolve_config("bench", envelope_swap=0.0), 0) == params_hash(base, 0)
    assert params_hash(swapped, 0) != params_hash(base, 0)
    _, old = plan_dataset(base, 3)
    _, new = plan_dataset(swapped, 3)
    assert [dataclasses.replace(p, swap=False) for p in new] == old
    assert not any(p.swap for p in old)
    for label in ("ES", "PNES"):
        members = [p for p in new if p.kind == "seizure" and p.label == label]
        assert sum(p.swap for p in members) == round(0.5 * len(members))
    assert not any(p.swap for p in new if p.kind != "seizure")


def test_activity_mask_follows_the_segments() -> None:
    t = np.arange(100) / 10.0  # 10 s at 10 fps
    mask = mo.activity_mask(t, [("eat", 2.0), ("sleep", 5.0), ("eat", 3.0)], "sleep")
    assert mask.tolist() == [False] * 20 + [True] * 50 + [False] * 30


def test_no_rhythmic_bouts_in_sleep_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from seizure_lightning.synthetic import generator

    segments = [("sleep", 3.0), ("eat", 30.0)]
    monkeypatch.setattr(generator.mo, "random_activities", lambda rng, seconds: list(segments))
    cfgs = {key: resolve_config("tiny", contextual_rhythm=r, contextual_rhythm_in_sleep=s)
            for key, (r, s) in {"still": (0.0, True), "all": (1.0, True),
                                "awake": (1.0, False)}.items()}
    _, plans = plan_dataset(cfgs["still"], 0)
    plan = next(p for p in plans if p.kind == "contextual")
    look = _subject_look(0, plan.subject, cfgs["still"].noise_std)
    motion = {k: build_scene(c, 0, plan, *look).motion for k, c in cfgs.items()}
    t = np.arange(plan.n_frames) / float(Fraction(plan.fps))
    sleep = mo.activity_mask(t, segments, "sleep") & motion["still"].present
    added = {k: np.abs(motion[k].channels - motion["still"].channels).max(axis=1) > 1e-6
             for k in ("all", "awake")}
    assert added["all"][sleep].any() and not added["awake"][sleep].any()
    assert added["awake"][~sleep].any()
