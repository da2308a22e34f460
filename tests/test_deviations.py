"""The report's "deviations from the paper": none for paper/*, each framework option named."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from seizure_lightning.loso.deviations import (
    PAPER_PRETRAIN,
    finetune_deviations,
    paper_deviations,
    pretrain_deviations,
)
from tests.conftest import CONFIG_DIR


def _compose(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg


def test_the_papers_own_run_deviates_only_by_the_stated_two() -> None:
    cfg = _compose("+experiment=paper/loso", "pretrained=/x/encoder.pt")
    assert finetune_deviations(cfg) == []
    recipe = {**PAPER_PRETRAIN, "n_crops": 4, "features": "cached"}
    got = pretrain_deviations(recipe)
    assert len(got) == 2 and "mean over positions" in got[0] and "4 random crops" in got[1]
    assert pretrain_deviations({**recipe, "features": "online"}) == got[:1]


def test_framework_options_are_each_named() -> None:
    cfg = _compose("+experiment=loso", "model=tiny_probe", "loso=recipe", "pretrained=/x/e.pt",
                   "loso.decision=val_threshold")
    got = " | ".join(paper_deviations(cfg, {"loss_on": "corrupted", "crop_mode": "fixed_k",
                                            "val_fraction": 0.1, "gradient_clip_val": 1.0,
                                            "backbone_arch": "resnet18", "lr": 0.001,
                                            "max_epochs": 300}))
    for needle in ("encoder d_model 64", "frozen", "model.input.kind=energy",
                   "model.head.dropout=0.0",
                   "loso.decision=val_threshold", "loso.checkpoint=best", "random-weight",
                   "trainer.gradient_clip_val=1.0", "data.split.val_fraction=0.15",
                   "pre-training loss_on=corrupted", "pre-training crop_mode=fixed_k",
                   "pre-training val_fraction=0.1", "pre-training lr=0.001",
                   "pre-training max_epochs=300", "model.encoder.gap_marker"):
        assert needle in got, (needle, got)
    stats = paper_deviations(_compose("+experiment=loso", "model=tiny_scratch",
                                      "model.head.motion_stats=true"), None)
    assert any("model.head.motion_stats" in d for d in stats)
    assert not any("model.finetune.head" in d for d in stats)  # tiny_scratch: no LP-FT
    assert any("(model.head.centered)" in d for d in stats)  # the framework's head
    assert not any("subject_norm" in d for d in stats)
    plain = paper_deviations(_compose("+experiment=loso", "model=tiny_scratch",
                                      "model.head.centered=false", "data.subject_norm=true"), None)
    assert not any("centered" in d for d in plain)
    assert any("(data.subject_norm)" in d for d in plain)
    lpft = " | ".join(paper_deviations(_compose(
        "+experiment=loso", "model=tiny_scratch", "model.finetune.head_lr=0.005",
        "model.finetune.head_warmup_epochs=5"), None))
    assert "rate 0.005 (model.finetune.head_lr)" in lpft and "first 5 epochs" in lpft, lpft
    grid = paper_deviations(_compose("+experiment=loso", "model=tiny_scratch", "loso=recipe",
                                     "loso.select.grid={model.finetune.lr: [0.1, 0.2]}"), None)
    assert any("nested selection per fold over {'model.finetune.lr': [0.1, 0.2]}" in d
               for d in grid)
    scratch = paper_deviations(_compose("+experiment=loso", "model=tiny_scratch"), None)
    assert any("no pre-training" in d for d in scratch)
    baseline = paper_deviations(_compose("+experiment=loso", "model=motion_spectrum"), None)
    assert baseline == ["model motion_spectrum: a baseline, not the paper's Transformer"]
