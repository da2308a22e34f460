"""Descriptor cache: equals the online path (MASK/PAD incl.), resumes, refuses other settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from seizure_lightning.data.extraction import (
    ClipFeaturizer,
    ExtractionConfig,
    FramesConfig,
)
from seizure_lightning.data.feature_cache import (
    CacheIncompleteError,
    CacheMismatchError,
    FeatureCache,
    build_feature_cache,
    cache_key,
)
from seizure_lightning.data.manifest import ClipRecord, SeizureRecord
from seizure_lightning.features.frame_encoder import FrameEncoderConfig
from tests.video_fixtures import make_video

FRAMES = FramesConfig(resize=(40, 52), crop=32, box_smooth_frames=3)
ENC = FrameEncoderConfig(
    arch="resnet18", weights=None, batch_size=32, precision="fp32", device="cpu"
)


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list:
    root = tmp_path_factory.mktemp("cache_videos")
    a = make_video(root / "a.mp4", 30, 45)
    b = make_video(root / "b.mp4", 25, 30)
    (root / "a_boxes.csv").write_text("frame,x1,y1,x2,y2\n0,5,4,40,40\n40,20,8,60,46\n")
    return [
        SeizureRecord("v0", "s0", "ES", a, None, None, root / "a_boxes.csv", 2),
        SeizureRecord("v1", "s1", "PNES", b, 0.2, 1.0, None, 3),
        ClipRecord("c0", "s2", a, 0.0, 1.0, 2),
    ]


@pytest.fixture(scope="module")
def featurizer() -> ClipFeaturizer:
    cfg = ExtractionConfig(FRAMES, ENC, n_crops=3, crop_mode="fixed_k")
    return ClipFeaturizer(FRAMES, ENC, offsets=cfg.offsets())


def build(records, root, featurizer, **kw):
    cfg = ExtractionConfig(FRAMES, ENC, n_crops=3, crop_mode="fixed_k", shard_size=1)
    return build_feature_cache(
        records, root, cfg, progress=False, encoder=featurizer.encoder, **kw
    ), cfg


def test_cache_equals_online(records, featurizer, tmp_path):
    root, cfg = build(records, tmp_path, featurizer)
    assert root.name == cache_key(records, cfg.meta())
    cache = FeatureCache.open(root, expected_meta=cfg.meta())
    assert cache.ids == ["v0", "v1", "c0"] and cache.dim == 512 and cache.n_crops == 3
    assert [cache.length(i) for i in cache.ids] == [38, 20, 25]
    info = cache.info("v1")
    assert (info["label"], info["subject_id"], info["start_s"], info["fps"]) == (
        "PNES",
        "s1",
        0.2,
        25.0,
    )
    for rec, crops in zip(records, [(0, 1, 2), (2,), (0,)]):
        iid = getattr(rec, "video_id", None) or rec.clip_id
        stored = cache.features(iid)
        assert stored.dtype == np.float16 and isinstance(stored, np.memmap)
        for k in crops:
            online = featurizer(rec, crop=k).numpy()
            np.testing.assert_allclose(
                stored[:, k].astype(np.float32), online, rtol=2e-3, atol=2e-3 * np.abs(online).max()
            )
    mask, pad = featurizer.special()
    np.testing.assert_allclose(cache.mask_descriptor, mask, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cache.pad_descriptor, pad, rtol=1e-5, atol=1e-5)
    # the paper's random crop goes through the same code path
    gen = torch.Generator().manual_seed(0)
    assert featurizer(records[1], crop="random", generator=gen).shape == (20, 512)


def test_resume_after_kill(records, featurizer, tmp_path):
    root, _ = build(records, tmp_path, featurizer)
    shards = root / "shards"
    before = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.npy")}
    (shards / "shard-00001.json").unlink()  # killed before shard 1's index was written
    (shards / ".shard-00001.npy.abc123.tmp").write_bytes(b"half")  # stray temp file
    with pytest.raises(CacheIncompleteError, match="1 of 3 shard"):
        FeatureCache.open(root)
    build(records, tmp_path, featurizer)
    after = {p.name: p.stat().st_mtime_ns for p in shards.glob("*.npy")}
    assert after["shard-00000.npy"] == before["shard-00000.npy"]  # finished shards kept
    assert after["shard-00002.npy"] == before["shard-00002.npy"]
    assert after["shard-00001.npy"] != before["shard-00001.npy"]  # the missing one redone
    assert FeatureCache.open(root).length("v1") == 20


def test_ranks_split_shards(records, featurizer, tmp_path):
    root, _ = build(records, tmp_path, featurizer, rank=1, world_size=2)
    assert sorted(p.name for p in (root / "shards").glob("*.json")) == ["shard-00001.json"]
    with pytest.raises(CacheIncompleteError):
        FeatureCache.open(root)
    build(records, tmp_path, featurizer, rank=0, world_size=2)
    assert len(FeatureCache.open(root)) == 3


def test_cache_from_other_encoder_refused(records, featurizer, tmp_path):
    root, _ = build(records[1:2], tmp_path, featurizer)
    other = ExtractionConfig(
        FRAMES, FrameEncoderConfig(arch="resnet34", weights=None), n_crops=3, crop_mode="fixed_k"
    )
    with pytest.raises(
        CacheMismatchError,
        match=r"encoder\.arch: cache has 'resnet18', "
        r"expected 'resnet34'",
    ) as err:
        FeatureCache.open(root, expected_meta=other.meta())
    assert str(root) in str(err.value)
    with pytest.raises(CacheMismatchError, match=r"input\.crop"):
        FeatureCache.open(root, expected_meta={"input": {"crop": 112}})
    # same explicit folder, other config: refused instead of mixing shards
    with pytest.raises(CacheMismatchError, match=r"encoder\.arch"):
        build_feature_cache(records[1:2], root, other, subdir=False, progress=False)
    assert cache_key(records[1:2], other.meta()) != root.name


def test_changed_manifest_gets_new_folder(records, featurizer, tmp_path):
    cfg = ExtractionConfig(FRAMES, ENC)
    k1 = cache_key(records, cfg.meta())
    src = records[1].path
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    assert cache_key(records, cfg.meta()) != k1
    assert cache_key(records[:2], cfg.meta()) != cache_key(records, cfg.meta())


def test_atomic_files_and_meta(records, featurizer, tmp_path):
    root = build_feature_cache(records[1:2], tmp_path, ExtractionConfig(frames=FRAMES, encoder=ENC),
                               progress=False)
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert names == [
        "items.json",
        "meta.json",
        "shards/shard-00000.json",
        "shards/shard-00000.npy",
        "special.npy",
    ]
    meta = json.loads((root / "meta.json").read_text())
    assert meta["extraction"]["encoder"] == {"arch": "resnet18", "weights": None, "dim": 512,
                                             "precision": "fp32"}
    assert meta["extraction"]["crops"]["offsets"] == [[4, 10]]
    assert not list(Path(tmp_path).glob("**/*.tmp"))


def test_read_equals_memory_map(records, featurizer, tmp_path):
    """``read`` (pread, nothing stays mapped) returns exactly the memory-mapped slices."""
    root, _ = build(records, tmp_path, featurizer)
    cache = FeatureCache.open(root)
    for item in cache.ids:
        n = cache.length(item)
        for start, stop in ((0, n), (1, min(n, 7)), (n - 2, n + 50), (n, n + 1)):
            got = cache.read(item, start, stop)
            np.testing.assert_array_equal(got, np.asarray(cache.features(item)[start:stop]))
            assert got.dtype == np.float16
    cache.close()


def test_extraction_precision_is_part_of_the_cache_key(records):
    """A bf16 cache is never reused for an fp32 run (or the other way round); "auto" is
    recorded as the precision it resolves to on this machine."""
    from dataclasses import replace

    from seizure_lightning.features.frame_encoder import resolve_device, resolve_precision

    fp32, bf16 = (ExtractionConfig(FRAMES, replace(ENC, precision=p)) for p in ("fp32", "bf16"))
    assert fp32.meta()["encoder"]["precision"] == "fp32"
    assert cache_key(records, fp32.meta()) != cache_key(records, bf16.meta())
    auto = ExtractionConfig(FRAMES, replace(ENC, precision="auto"))
    resolved = resolve_precision("auto", resolve_device(ENC.device))
    assert auto.meta()["encoder"]["precision"] == resolved
    assert cache_key(records, auto.meta()) == cache_key(
        records, ExtractionConfig(FRAMES, replace(ENC, precision=resolved)).meta())


def test_concurrent_builders_of_one_cache_extract_it_once(records, tmp_path):
    """Two jobs asking for the same cache at once (a SLURM array's folds): one extracts, the
    other waits on the lock and finds it built."""
    import threading
    from unittest import mock

    from seizure_lightning.data import feature_cache
    from seizure_lightning.data.seizure import SeizureVideoDataModule

    manifest = tmp_path / "m.csv"
    manifest.write_text("video_id,subject_id,label,path\n" + "".join(
        f"{r.video_id},{r.subject_id},{r.label},{r.path}\n" for r in records[:1]))
    built = []
    real = feature_cache._write_shard

    def counting(*args, **kw):
        built.append(1)
        return real(*args, **kw)

    def job():
        dm = SeizureVideoDataModule(manifest=str(manifest), cache_dir=str(tmp_path / "cache"),
                                    frames=vars(FRAMES),
                                    backbone={**vars(ENC), "allow_random_weights": True})
        dm.build_cache(progress=False)

    with mock.patch.object(feature_cache, "_write_shard", counting):
        threads = [threading.Thread(target=job) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(built) == 1


def test_progress_total_is_the_frames_extracted(records, tmp_path):
    """The extraction bar has a total (and so an ETA): the frames the records will give."""
    from seizure_lightning.data.feature_cache import expected_frames

    root = build_feature_cache(records, tmp_path, ExtractionConfig(frames=FRAMES, encoder=ENC),
                               progress=False)
    cache = FeatureCache.open(root)
    assert expected_frames(records, FRAMES.fps) == sum(cache.length(i) for i in cache.ids)


def test_random_crops_are_per_item_uniform_and_cached_as_drawn(records, featurizer, tmp_path):
    """crop_mode=random (paper/pretrain): every item has its own K positions, reproducible from
    (seed, item id), anywhere in the frame; the cache holds exactly those crops."""
    cfg = ExtractionConfig(FRAMES, ENC, n_crops=2, crop_mode="random", crop_seed=3, shard_size=1)
    root = build_feature_cache(records, tmp_path, cfg, progress=False, encoder=featurizer.encoder)
    cache = FeatureCache.open(root, expected_meta=cfg.meta())
    by_item = {i: cfg.item_offsets(i) for i in cache.ids}
    assert by_item["v0"] == cfg.item_offsets("v0") and by_item["v0"] != by_item["v1"]
    for iid, offsets in by_item.items():
        assert cache.info(iid)["crops"] == [list(o) for o in offsets]
    rec = records[2]
    online = featurizer(rec, crop=by_item["c0"][1]).numpy()
    np.testing.assert_allclose(cache.features("c0")[:, 1].astype(np.float32), online,
                               rtol=2e-2, atol=2e-2)
    many = ExtractionConfig(FRAMES, ENC, n_crops=400, crop_mode="random").item_offsets("x")
    tops, lefts = zip(*many)
    assert (min(tops), max(tops)) == (0, 8) and (min(lefts), max(lefts)) == (0, 20)
    assert ExtractionConfig(FRAMES, ENC, n_crops=2, crop_mode="random", crop_seed=4).meta() != cfg.meta()
