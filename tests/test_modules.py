"""Tests of the Lightning modules (pre-training, classifier) and the baselines, on tiny configs."""

from __future__ import annotations

import functools
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from seizure_lightning.lightning_modules.classifier import ClassifierModule
from seizure_lightning.lightning_modules.masked_pretraining import DenoisingPretrainModule
from seizure_lightning.lightning_modules.optim import lr_schedule
from seizure_lightning.models.baselines import LSTMEncoder, MeanPoolLinear
from seizure_lightning.models.encoder_export import ENCODER_EXPORT_FORMAT, load_encoder_export

DIM, LEN = 16, 48
MEANPOOL = "seizure_lightning.models.baselines.MeanPoolLinear"
LSTM = "seizure_lightning.models.baselines.LSTMEncoder"
INPUT = {"descriptor_dim": DIM}  # the raw descriptors (kind none)
TINY = dict(
    d_model=32,
    num_layers=2,
    num_heads=2,
    ffn_dim=64,
    max_positions=LEN,
    dropout=0.0,
    attention_dropout=0.0,
)
CORRUPTION = dict(span=8, mask_ratio=0.15)


class SmoothClips(Dataset):
    """Descriptor sequences that drift smoothly between two random points (+ noise), some padded."""

    def __init__(self, n: int, seed: int = 0, pad: torch.Tensor | None = None) -> None:
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(n, 1, DIM, generator=g), torch.randn(n, 1, DIM, generator=g)
        t = torch.linspace(0, 1, LEN).view(1, LEN, 1)
        self.features = a + (b - a) * t + 0.05 * torch.randn(n, LEN, DIM, generator=g)
        self.lengths = torch.randint(LEN // 2, LEN + 1, (n,), generator=g)
        self.mask = torch.arange(LEN).unsqueeze(0) < self.lengths.unsqueeze(1)
        pad = torch.zeros(DIM) if pad is None else pad
        self.features[~self.mask] = pad
        self.labels = (b[:, 0, 0] > a[:, 0, 0]).long()  # a learnable "direction" label

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "features": self.features[i],
            "attention_mask": self.mask[i],
            "index": torch.tensor(i),
            "label": self.labels[i],
            "video_idx": torch.tensor(i // 2),
            "start": torch.tensor((i % 2) * LEN),
        }


def _trainer(tmp_path: Path | None = None, **kw) -> pl.Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        deterministic=True,
    )
    return pl.Trainer(**{**defaults, **kw})


def _pretrain_module(**kw) -> DenoisingPretrainModule:
    torch.manual_seed(0)
    module = DenoisingPretrainModule(
        encoder=kw.pop("encoder", TINY),
        input=kw.pop("input", INPUT),
        corruption=kw.pop("corruption", CORRUPTION),
        optimizer=kw.pop(
            "optimizer", functools.partial(torch.optim.AdamW, lr=5e-3, weight_decay=1e-4)
        ),
        scheduler=kw.pop("scheduler", functools.partial(lr_schedule, name="linear", warmup_steps=5)),
        seed=0,
        **kw,
    )
    module.set_special_descriptors(torch.full((DIM,), -1.0), torch.zeros(DIM))
    return module


def _loader(n: int = 64, seed: int = 0, batch_size: int = 16, shuffle: bool = False) -> DataLoader:
    return DataLoader(SmoothClips(n, seed), batch_size=batch_size, shuffle=shuffle)


def test_pretrain_learns_and_beats_mean_baseline() -> None:
    module = _pretrain_module()
    val = _loader(32, seed=1)
    before = _trainer().validate(module, dataloaders=val, verbose=False)[0]
    _trainer(max_steps=40).fit(module, train_dataloaders=_loader(128, shuffle=True))
    after = _trainer().validate(module, dataloaders=val, verbose=False)[0]
    assert after["val/loss"] < 0.5 * before["val/loss"]
    assert after["val/loss"] < 0.5 * after["val/pretext/mean_corrupted"], after
    assert after["val/cosine"] > before["val/cosine"]
    for part in ("masked", "moved", "untouched", "corrupted"):
        for name in ("model", "copy", "interpolate", "mean"):
            assert f"val/pretext/{name}_{part}" in after
    assert after["val/pretext/copy_untouched"] == pytest.approx(0.0, abs=1e-6)


def test_loss_definitions_on_known_batch() -> None:
    module = _pretrain_module(corruption={**CORRUPTION, "permute": False, "mask": False})
    batch = next(iter(_loader(4, batch_size=4)))
    with torch.no_grad():
        pred = module(batch["features"], batch["attention_mask"])
    err = (pred - batch["features"]).pow(2).sum(-1)
    valid = batch["attention_mask"]
    module.eval()
    trainer = _trainer()
    metrics = trainer.validate(module, dataloaders=_loader(4, batch_size=4), verbose=False)[0]
    assert metrics["val/loss"] == pytest.approx(err[valid].mean().item(), rel=1e-4)
    assert metrics["val/loss_sum"] == pytest.approx((err * valid).sum(1).mean().item(), rel=1e-4)


def test_checkpoint_weights_only_round_trip_and_resume(tmp_path: Path) -> None:
    module = _pretrain_module(
        encoder=OmegaConf.create(TINY), corruption=OmegaConf.create(CORRUPTION)
    )
    trainer = _trainer(tmp_path, max_steps=3)
    trainer.fit(module, train_dataloaders=_loader(32))
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    raw = torch.load(ckpt, weights_only=True)
    assert raw["hyper_parameters"]["encoder"]["d_model"] == 32
    assert "optimizer" not in raw["hyper_parameters"]
    loaded = DenoisingPretrainModule.load_from_checkpoint(ckpt, weights_only=True)
    for key, value in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert torch.equal(loaded.mask_descriptor, torch.full((DIM,), -1.0))
    # Resume (optimizer + scheduler state) from the same file, still weights_only.
    resumed = _pretrain_module()
    trainer2 = _trainer(tmp_path, max_steps=5)
    trainer2.fit(resumed, train_dataloaders=_loader(32), ckpt_path=ckpt, weights_only=True)
    assert trainer2.global_step == 5


def test_export_and_load_encoder(tmp_path: Path) -> None:
    module = _pretrain_module()
    path = module.export_encoder(tmp_path / "enc.pt", subjects_seen=["s2", "s1", "s1"])
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == ENCODER_EXPORT_FORMAT and raw["subjects_seen"] == ["s1", "s2"]
    encoder, meta = load_encoder_export(path)
    assert meta["encoder_config"]["d_model"] == 32 and "state_dict" not in meta
    assert meta["input_config"] == {"kind": "none", "descriptor_dim": DIM, "floor": 0.02}
    for key, value in module.encoder.state_dict().items():
        assert torch.equal(encoder.state_dict()[key], value)
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a seizure-lightning encoder export"):
        load_encoder_export(tmp_path / "bad.pt")


def test_classifier_from_export_trains_and_reloads_without_export(tmp_path: Path) -> None:
    export = _pretrain_module().export_encoder(tmp_path / "enc.pt", subjects_seen=["s1"])
    reference, _ = load_encoder_export(export)
    clf = ClassifierModule(
        encoder={"dropout": 0.2, "d_model": 999},
        init_from=str(export),
        class_weights=[0.3, 0.7],
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3),
    )
    assert clf.backbone.config.d_model == 32 and clf.backbone.config.dropout == 0.2
    for key, value in reference.state_dict().items():
        assert torch.equal(clf.backbone.state_dict()[key], value)
    assert clf.pretrain_meta["subjects_seen"] == ["s1"]
    trainer = _trainer(tmp_path, max_steps=4)
    trainer.fit(clf, train_dataloaders=_loader(32), val_dataloaders=_loader(16, seed=2))
    assert "val/bal_acc" in trainer.callback_metrics and "val/f1_macro" in trainer.callback_metrics
    ckpt = tmp_path / "clf.ckpt"
    trainer.save_checkpoint(ckpt)
    export.unlink()
    loaded = ClassifierModule.load_from_checkpoint(ckpt, weights_only=True)
    assert loaded.hparams.init_from is None and loaded.pretrain_meta["subjects_seen"] == ["s1"]
    for key, value in clf.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert torch.equal(loaded.class_weight, torch.tensor([0.3, 0.7]))


def test_head_warmup_freezes_the_encoder_then_fine_tunes(tmp_path: Path) -> None:
    """LP-FT: the encoder does not move in the warmup epochs (the head does, at its own rate),
    then both train; the optimizer holds the head's rate."""
    torch.manual_seed(0)
    clf = ClassifierModule(encoder=TINY, input=INPUT,
                           finetune={"lr": 1e-3, "head_lr": 1e-2, "head_warmup_epochs": 1})
    start = {k: v.clone() for k, v in clf.state_dict().items()}
    loader = _loader(32, batch_size=8)  # 4 steps per epoch
    _trainer(tmp_path, max_epochs=1).fit(clf, train_dataloaders=loader)
    after_warmup = {k: v.clone() for k, v in clf.state_dict().items()}
    assert all(torch.equal(start[k], v) for k, v in after_warmup.items() if k.startswith("backbone."))
    assert not torch.equal(start["head.weight"], after_warmup["head.weight"])
    rates = sorted({g["lr"] for g in clf.trainer.optimizers[0].param_groups})
    assert rates == [1e-3, 1e-2]
    _trainer(tmp_path, max_epochs=2).fit(clf, train_dataloaders=loader)
    assert any(not torch.equal(after_warmup[k], v) for k, v in clf.state_dict().items()
               if k.startswith("backbone."))
    with pytest.raises(ValueError, match="head_warmup_epochs"):
        ClassifierModule(encoder=TINY, input=INPUT, finetune={"head_warmup_epochs": -1})


def test_centered_head_starts_at_even_odds_and_learns(tmp_path: Path) -> None:
    """model.head.centered: before training every window gets p = 0.5 exactly, whatever the
    scale or offset of the inputs; the head's inputs are batch-standardised (running statistics
    at evaluation, saved with the weights) and it learns; without it the random head does not."""
    torch.manual_seed(0)
    batch = next(iter(_loader(16)))
    features = batch["features"] * 50.0 + 20.0  # far from centred: a random head is not at 0.5
    mask = batch["attention_mask"]
    clf = ClassifierModule(encoder=TINY, input=INPUT,
                           head={"motion_stats": True, "centered": True, "dropout": 0.0})
    plain = ClassifierModule(encoder=TINY, input=INPUT, head={"motion_stats": True})
    for module in (clf, plain):
        module.eval()
    with torch.no_grad():
        torch.testing.assert_close(clf(features, mask).softmax(-1), torch.full((16, 2), 0.5))
        assert not torch.allclose(plain(features, mask).softmax(-1), torch.full((16, 2), 0.5))
    _trainer(tmp_path, max_epochs=2).fit(clf.train(), train_dataloaders=_loader(32, batch_size=8))
    assert clf.head.weight.abs().sum() > 0
    assert clf.head_norm.num_batches_tracked.item() == 8
    assert clf.head_norm.running_var.mean().item() != 1.0  # statistics of the training inputs
    one = clf.train()(features[:1], mask[:1])  # a last batch of one window: running statistics
    torch.testing.assert_close(one, clf.eval()(features[:1], mask[:1]))
    ckpt = tmp_path / "centered.ckpt"
    clf.trainer.save_checkpoint(ckpt)
    loaded = ClassifierModule.load_from_checkpoint(ckpt, weights_only=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(features, mask), clf.eval()(features, mask))


def test_best_checkpoint_is_chosen_after_the_warmup(tmp_path: Path) -> None:
    """The best checkpoint (by validation loss) comes from epoch ``start_epoch`` on, even when
    an earlier epoch scored better; last.ckpt is still written."""
    from seizure_lightning.engine.checkpoints import BestCheckpoint

    class Scripted(ClassifierModule):  # validation loss falls, then rises: best at epoch 0
        def on_validation_epoch_end(self) -> None:
            self.log("score", float([0.1, 0.5, 0.3, 0.9][self.current_epoch]))

    def best(start: int) -> str:
        cb = BestCheckpoint(dirpath=tmp_path / f"s{start}", monitor="score", mode="min",
                            save_top_k=1, save_last=True, filename="e{epoch}",
                            auto_insert_metric_name=False, start_epoch=start)
        _trainer(tmp_path, max_epochs=4, enable_checkpointing=True, callbacks=[cb]).fit(
            Scripted(encoder={"_target_": MEANPOOL}, input=INPUT),
            train_dataloaders=_loader(16), val_dataloaders=_loader(8, seed=1))
        assert (tmp_path / f"s{start}" / "last.ckpt").is_file()
        return Path(cb.best_model_path).stem

    assert best(0) == "e0"
    assert best(1) == "e2"
    with pytest.raises(ValueError, match="start_epoch"):
        BestCheckpoint(start_epoch=-1)


def test_class_weighted_loss() -> None:
    clf = ClassifierModule(encoder={"_target_": MEANPOOL}, input=INPUT, class_weights=[1.0, 4.0])
    logits, labels = torch.randn(10, 2), torch.tensor([0, 1] * 5)
    expected = F.cross_entropy(logits, labels, weight=torch.tensor([1.0, 4.0]))
    torch.testing.assert_close(clf.loss(logits, labels), expected)
    assert not torch.allclose(clf.loss(logits, labels), F.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match="class_weights"):
        ClassifierModule(encoder={"_target_": MEANPOOL}, input=INPUT, class_weights=[1.0])


def test_test_step_collects_window_probabilities(tmp_path: Path) -> None:
    clf = ClassifierModule(encoder={"_target_": LSTM, "hidden_size": 8}, input=INPUT)
    trainer = _trainer(tmp_path)
    trainer.test(clf, dataloaders=_loader(10, batch_size=4), verbose=False)
    assert len(clf.window_outputs) == 3
    windows = clf.window_predictions()
    assert windows["probs"].shape == (10, 2) and windows["probs"].device.type == "cpu"
    torch.testing.assert_close(windows["probs"].sum(1), torch.ones(10))
    assert windows["video_idx"].tolist() == [i // 2 for i in range(10)]
    assert windows["start"].tolist() == [(i % 2) * LEN for i in range(10)]
    trainer.predict(clf, dataloaders=_loader(6, batch_size=4))
    assert clf.window_predictions()["probs"].shape == (6, 2)  # the predict loop's windows only


def test_baselines_forward_and_masking() -> None:
    torch.manual_seed(0)
    batch = next(iter(_loader(4, batch_size=4)))
    x, mask = batch["features"], batch["attention_mask"]
    clf = ClassifierModule(encoder={"_target_": MEANPOOL}, input=INPUT).eval()
    assert isinstance(clf.backbone, MeanPoolLinear)
    mean = torch.stack([x[b, mask[b]].mean(0) for b in range(4)])
    torch.testing.assert_close(clf(x, mask), clf.head(mean))

    lstm = LSTMEncoder({"input_dim": DIM, "hidden_size": 8}).eval()
    assert lstm.output_dim == 16
    noisy = x.clone()
    noisy[~mask] = 100.0
    with torch.no_grad():
        a, b = lstm(x, mask), lstm(noisy, mask)
    torch.testing.assert_close(a, b)
    assert torch.all(a[~mask] == 0)
    with pytest.raises(ValueError, match="right-padded"):
        lstm(x, torch.flip(mask, dims=[1]))
    with pytest.raises(Exception, match=r"seizure_lightning\.models\.cnn\.CNN"):
        ClassifierModule(encoder={"_target_": "seizure_lightning.models.cnn.CNN"})
    with pytest.raises(Exception, match="unknown LSTMConfig keys"):
        ClassifierModule(encoder={"_target_": LSTM, "d_model": 3})
    with pytest.raises(ValueError, match="init_from needs a SequenceEncoder"):
        ClassifierModule(encoder={"_target_": LSTM}, input=INPUT, init_from="enc.pt")
    with pytest.raises(ValueError, match=r"unknown HeadConfig keys: \['pooling'\]"):
        ClassifierModule(encoder={"_target_": MEANPOOL}, input=INPUT, head={"pooling": "first"})


class _CopyInput(torch.nn.Module):
    """A 'model' that only copies its (corrupted) input: what the pretext must see through."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    def forward(self, features, attention_mask, gaps=None):
        return features


def test_pretext_ratio_fails_a_model_that_only_copies() -> None:
    module = _pretrain_module()
    module.encoder, module.head = _CopyInput(module.encoder.config), torch.nn.Identity()
    metrics = _trainer().validate(module, dataloaders=_loader(32, seed=1), verbose=False)[0]
    assert metrics["val/pretext/ratio"] >= 1.0, metrics
    assert metrics["val/pretext/interpolate_corrupted"] < metrics["val/pretext/copy_corrupted"]



class RhythmicClips(SmoothClips):
    """Descriptors oscillating along a random direction (a rhythmic movement, 17-50 frames a
    cycle) under a slowly waxing and waning amplitude: the motion energy of a frame is
    predictable from the frames around it."""

    def __init__(self, n: int, seed: int = 0) -> None:
        super().__init__(n, seed)
        g = torch.Generator().manual_seed(seed + 100)
        t = torch.arange(LEN, dtype=torch.float32).view(1, LEN, 1)
        rand = lambda: torch.rand(n, 1, 1, generator=g)  # noqa: E731
        freq = 0.02 + 0.04 * rand()
        amp = 0.6 + 0.4 * torch.sin(2 * torch.pi * t / LEN + 6.3 * rand())
        u = torch.randn(n, 1, DIM, generator=g)
        wave = amp * torch.sin(2 * torch.pi * freq * t + 6.3 * rand())
        base = torch.randn(n, 1, DIM, generator=g)
        self.features = base + wave * u + 0.02 * torch.randn(n, LEN, DIM, generator=g)
        self.mask = torch.ones(n, LEN, dtype=torch.bool)


@pytest.mark.slow
def test_energy_pretext_learns_rhythmic_motion_at_masked_frames() -> None:
    """The framework's pre-training (energy input, gap marker, loss on corrupted positions,
    lr 1e-3) predicts masked motion of rhythmic clips far better than copying or the mean."""
    module = _pretrain_module(
        encoder={**TINY, "gap_marker": True},
        input={"kind": "energy", "descriptor_dim": DIM},
        corruption=dict(span=8, mask_ratio=0.15, permute=False, loss_on="corrupted"),
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=1e-4),
    )
    train = DataLoader(RhythmicClips(128), batch_size=16, shuffle=True)
    _trainer(max_steps=3000).fit(module, train_dataloaders=train)
    val = DataLoader(RhythmicClips(64, seed=1), batch_size=16)
    after = _trainer().validate(module, dataloaders=val, verbose=False)[0]
    pretext = {k.split("/")[-1]: round(v, 3) for k, v in after.items() if "pretext" in k}
    assert after["val/pretext/model_masked"] < 0.5 * after["val/pretext/mean_masked"], str(pretext)
    assert after["val/pretext/model_masked"] < after["val/pretext/copy_masked"], str(pretext)


# -- checkpoints and exports written before the settings were grouped ----------------------------
SEQUENCE_ENCODER = "seizure_lightning.models.sequence_encoder.SequenceEncoder"
ENERGY = {"kind": "energy", "descriptor_dim": DIM, "floor": 0.02}


def _write_old_checkpoint(path: Path, module: ClassifierModule, hparams: dict) -> Path:
    """A checkpoint as an earlier version wrote it: these weights under flat ``hparams``."""
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams,
                "pytorch-lightning_version": pl.__version__}, path)
    return path


def _old_encoder_config(module: ClassifierModule, input_norm: str) -> dict:
    """The encoder config of an earlier version: the descriptors' width and ``input_norm``."""
    encoder = {k: v for k, v in module.hparams.encoder.items() if k != "compile"}
    return {**encoder, "input_dim": DIM, "input_norm": input_norm, "input_norm_floor": 0.02}


def test_a_checkpoint_with_the_old_flat_settings_rebuilds_the_same_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    new = ClassifierModule(encoder={**TINY, "gap_marker": True}, input=ENERGY,
                           head={"dropout": 0.2, "motion_stats": True, "centered": True},
                           finetune={"lr": 1e-3, "head_lr": 1e-2, "head_warmup_epochs": 2},
                           class_weights=[0.3, 0.7])
    batch = next(iter(_loader(8, batch_size=8)))
    x, mask = batch["features"], batch["attention_mask"]
    new(x, mask)  # training mode: the head's running statistics move away from their start
    old = {"encoder": _old_encoder_config(new, "energy"), "init_from": None, "pooling": "mean",
           "dropout": 0.2, "num_classes": 2, "class_weights": [0.3, 0.7], "lr": 1e-3,
           "freeze_encoder": False, "compile": False, "name": "tiny", "from_scratch": True,
           "subject_norm": False, "motion_stats": True, "head_lr": 1e-2,
           "head_warmup_epochs": 2, "centered_head": True}
    path = _write_old_checkpoint(tmp_path / "old.ckpt", new, old)
    loaded = ClassifierModule.load_from_checkpoint(path, weights_only=True).eval()
    assert dict(loaded.hparams) == dict(new.hparams)
    assert loaded.input_representation.config == new.input_representation.config
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, mask), new.eval()(x, mask))
    # the LSTM baseline under its old name, with its input_norm
    lstm = ClassifierModule(encoder={"_target_": LSTM, "hidden_size": 8},
                            input={"kind": "window", "descriptor_dim": DIM}).eval()
    old_lstm = {"encoder": {"_target_": "seizure_lightning.models.baselines.LSTMClassifier",
                            "input_dim": DIM, "hidden_size": 8, "input_norm": "window"},
                "pooling": "mean", "dropout": 0.5, "lr": 0.001, "centered_head": False}
    path = _write_old_checkpoint(tmp_path / "lstm.ckpt", lstm, old_lstm)
    loaded = ClassifierModule.load_from_checkpoint(path, weights_only=True).eval()
    assert isinstance(loaded.backbone, LSTMEncoder) and loaded.finetune_config.lr == 0.001
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, mask), lstm(x, mask))


@pytest.mark.parametrize(("old", "removed"), [
    ({"pooling": "first"}, "pooling='first'"),
    ({"encoder": {"_target_": MEANPOOL, "input_dim": DIM, "input_norm": "diff"}},
     "input_norm='diff'"),
])
def test_a_checkpoint_of_a_removed_option_is_a_clear_error(tmp_path: Path, old: dict,
                                                           removed: str) -> None:
    module = ClassifierModule(encoder={"_target_": MEANPOOL}, input=INPUT)
    path = _write_old_checkpoint(tmp_path / "old.ckpt", module,
                                 {"encoder": {"_target_": MEANPOOL, "input_dim": DIM}, **old})
    with pytest.raises(ValueError, match=f"{removed} was removed"):
        ClassifierModule.load_from_checkpoint(path, weights_only=True)


def test_an_encoder_export_of_the_old_format_gives_its_input_representation(
        tmp_path: Path) -> None:
    module = _pretrain_module(encoder={**TINY, "gap_marker": True}, input=ENERGY)
    path = module.export_encoder(tmp_path / "enc.pt", subjects_seen=["s1"])
    payload = torch.load(path, weights_only=True)
    config = {**payload.pop("encoder_config"), "input_dim": DIM, "input_norm": "energy",
              "input_norm_floor": 0.02}
    del payload["input_config"]
    torch.save({**payload, "format": "seizure-lightning-encoder/1", "encoder_config": config},
               tmp_path / "old.pt")
    _, meta = load_encoder_export(tmp_path / "old.pt")
    assert meta["input_config"] == ENERGY and meta["encoder_config"]["input_dim"] == 1
    assert "input_norm" not in meta["encoder_config"]
    clf = ClassifierModule(encoder={"_target_": SEQUENCE_ENCODER}, input=INPUT,
                           init_from=str(tmp_path / "old.pt"))
    assert clf.hparams.input == ENERGY and clf.backbone.input_proj.in_features == 1
    for key, value in module.encoder.state_dict().items():
        assert torch.equal(clf.backbone.state_dict()[key], value)


def test_compile_compiles_the_sequence_model_in_place() -> None:
    """model.encoder.compile: torch.compile on first call, the same state-dict keys."""
    clf = ClassifierModule(encoder={**TINY, "compile": True}, input=INPUT)
    assert clf.backbone._compiled_call_impl is not None and clf.hparams.encoder["compile"]
    plain = ClassifierModule(encoder=TINY, input=INPUT)
    assert plain.backbone._compiled_call_impl is None
    assert list(clf.state_dict()) == list(plain.state_dict())
    pretrain = _pretrain_module(encoder={**TINY, "compile": True})
    assert pretrain.encoder._compiled_call_impl is not None
