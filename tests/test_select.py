"""Nested selection inside a LOSO fold (seizure_lightning.loso.select)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from seizure_lightning.evaluation.fold_record import FoldRecord, record_path
from seizure_lightning.loso.select import (
    best_candidate,
    candidate_config,
    candidates,
    validation_score,
)
from seizure_lightning.tasks import run_task

from .conftest import compose_config


def test_candidates_are_the_grid_product_in_order() -> None:
    assert candidates({}) == [] and candidates(None) == []
    grid = OmegaConf.create({"model.lr": [1e-4, 1e-3], "trainer.max_epochs": [5, 10]})
    assert candidates(grid) == [
        {"model.lr": 1e-4, "trainer.max_epochs": 5}, {"model.lr": 1e-4, "trainer.max_epochs": 10},
        {"model.lr": 1e-3, "trainer.max_epochs": 5}, {"model.lr": 1e-3, "trainer.max_epochs": 10},
    ]
    assert candidates({"model.lr": 0.1}) == [{"model.lr": 0.1}]
    with pytest.raises(ValueError, match="no values"):
        candidates({"model.lr": []})


def test_candidate_config_sets_values_and_its_own_folder() -> None:
    cfg = OmegaConf.create({"model": {"lr": 0.5}, "paths": {"output_dir": "/run"}})
    out = candidate_config(cfg, {"model.lr": 0.1}, "/run/select/00")
    assert out.model.lr == 0.1 and out.paths.output_dir == "/run/select/00"
    assert cfg.model.lr == 0.5  # the fold's config is left as it was
    with pytest.raises(ValueError, match="not a config key"):
        candidate_config(cfg, {"model.lrr": 0.1}, "/x")
    assert candidate_config(cfg, {"model.lr": "*0.3"}, "/x").model.lr == pytest.approx(0.15)
    with pytest.raises(ValueError, match="scales a number"):
        candidate_config(cfg, {"paths.output_dir": "*2"}, "/x")


def test_validation_score_and_ties() -> None:
    videos = pd.DataFrame({"label": ["ES", "ES", "PNES", "PNES"], "pred": ["ES", "PNES", "PNES", "PNES"],
                           "p_PNES": [0.1, 0.6, 0.7, 0.9]})
    assert validation_score(videos, "auroc", 1.0) == pytest.approx(1.0)
    assert validation_score(videos, "balanced_accuracy", 1.0) == pytest.approx(0.75)
    assert validation_score(videos, "neg_loss", 0.3) == pytest.approx(-0.3)
    one_class = videos[videos.label == "ES"]
    assert validation_score(one_class, "auroc", 0.7) == pytest.approx(-0.7)  # falls back
    with pytest.raises(ValueError, match=r"loso\.select\.metric"):
        validation_score(videos, "accuracy", 0.1)
    assert best_candidate([0.5, 0.9, 0.9]) == 1
    assert best_candidate([0.5, 0.9, 0.9], [0.1, 0.4, 0.3]) == 2  # a tie goes to the lower loss
    assert best_candidate([1.0, 1.0], [None, 0.2]) == 1


def test_fold_selects_on_inner_validation_only(tmp_path: Path, shared_root: Path) -> None:
    overrides = [
        "+experiment=loso", "synth=tiny", "backbone=tiny", "frames=tiny", "model=lstm",
        "logger=csv", "trainer=cpu", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "print_config=false", "trainer.max_epochs=1",
        "data.test_subject=P01", "loso.select.grid={model.finetune.lr: [0.0001, 0.01]}",
        "loso.select.metric=neg_loss", "data.split.val_fraction=0.34",
    ]
    cfg = compose_config(tmp_path, overrides, shared_root=shared_root)
    run_task(cfg)
    run_dir = Path(cfg.paths.output_dir)
    record = FoldRecord.read(record_path(run_dir))
    selection = record.selection
    assert [c.values for c in selection.candidates] == [{"model.finetune.lr": 0.0001},
                                                           {"model.finetune.lr": 0.01}]
    scores = [c.score for c in selection.candidates]
    losses = [c.val_loss for c in selection.candidates]
    # each candidate's inner validation loss is recorded and is its neg_loss score (a missing
    # loss scores -inf and every selection would fall back to the first candidate)
    assert all(loss is not None and loss > 0 for loss in losses), losses
    assert scores == pytest.approx([-loss for loss in losses])
    best = best_candidate(scores, losses)
    assert selection.chosen == selection.candidates[best].values
    assert "P01" not in record.split["train"] + record.split["val"]
    chosen_dir = Path(selection.chosen_candidate.dir)
    fold_ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    chosen_ckpt = torch.load(chosen_dir / "checkpoints" / "last.ckpt", weights_only=True)
    for key, value in chosen_ckpt["state_dict"].items():
        assert torch.equal(fold_ckpt["state_dict"][key], value)
    assert fold_ckpt["seizure_lightning"]["decision"]["rule"] == "argmax"
    assert (run_dir / "predictions.csv").is_file()


def test_fold_key_covers_export_bytes_manifest_and_code(tmp_path: Path) -> None:
    from omegaconf import open_dict

    from seizure_lightning.loso.fold import fold_config_hash

    export, manifest = tmp_path / "encoder.pt", tmp_path / "seizures.csv"
    export.write_bytes(b"weights v1")
    manifest.write_text("video_id,subject_id,label,path\nA,P1,ES,a.mp4\n")
    cfg = compose_config(tmp_path, ["+experiment=loso", f"pretrained={export}",
                                    f"data.manifest={manifest}", "data.test_subject=P1"])
    first = fold_config_hash(cfg)
    assert fold_config_hash(cfg) == first
    export.write_bytes(b"weights v2")  # same path, other bytes
    second = fold_config_hash(cfg)
    assert second != first
    manifest.write_text("video_id,subject_id,label,path\nA,P1,PNES,a.mp4\n")  # one row changed
    assert fold_config_hash(cfg) not in (first, second)
    third = fold_config_hash(cfg)
    with open_dict(cfg):
        cfg.loso.compare = ["tiny-tiny_scratch"]  # how the sweep reports: not the fold's result
        cfg.loso.n_boot = 7
    assert fold_config_hash(cfg) == third


def test_transformer_without_export_is_refused_unless_from_scratch(tmp_path: Path) -> None:
    from seizure_lightning.loso.fold import check_pretrained

    def model(*overrides: str):
        return compose_config(tmp_path, ["+experiment=loso", *overrides]).model

    with pytest.raises(ValueError, match="no encoder export"):
        check_pretrained(model("model=tiny"))
    check_pretrained(model("model=tiny_scratch"))
    check_pretrained(model("model=tiny", "model.from_scratch=true"))
    check_pretrained(model("model=lstm"))
    check_pretrained(model("model=tiny", "pretrained=/x/encoder.pt"))


def test_predict_finds_a_fold_checkpoint_without_quoting(tmp_path: Path) -> None:
    from seizure_lightning.tasks.predict import checkpoint_path

    cfg = compose_config(tmp_path, ["+experiment=predict", "predict.sweep=logs/loso/demo",
                                    "predict.model=tiny", "predict.subject=P07"])
    assert checkpoint_path(cfg) == Path("logs/loso/demo/tiny/fold=P07/checkpoints/last.ckpt")
    with pytest.raises(ValueError, match=r"predict\.ckpt"):
        checkpoint_path(compose_config(tmp_path, ["+experiment=predict"]))


def test_sweep_name_of_a_manifest_is_pseudonymous(tmp_path: Path) -> None:
    from seizure_lightning.resolvers import dataset_tag

    manifest = tmp_path / "emu_2024_patientlist" / "seizures.csv"
    tag = dataset_tag(str(manifest), "demo", 0)
    assert tag.startswith("manifest-") and "emu" not in tag and "seizures" not in tag
    assert tag == dataset_tag(str(manifest), "tiny", 3)  # one manifest, one name
    assert dataset_tag(None, "demo", 1) == "synthetic-demo-seed1"


def test_pretrain_overlap_is_yes_no_or_unknown(tmp_path: Path) -> None:
    from seizure_lightning.lightning_modules.masked_pretraining import DenoisingPretrainModule
    from seizure_lightning.loso.fold import pretrain_overlap
    from seizure_lightning.loso.splits import LeakageError

    tiny = dict(d_model=16, num_layers=1, num_heads=2, ffn_dim=32, max_positions=16)
    module = DenoisingPretrainModule(encoder=tiny, input={"descriptor_dim": 8})
    known = module.export_encoder(tmp_path / "known.pt", ["P1"])
    unknown = module.export_encoder(tmp_path / "unknown.pt", ["P1"], subjects_unknown=True)

    assert pretrain_overlap(str(known), "P2", allow=False) is False
    assert pretrain_overlap(str(unknown), "P2", allow=False) == "unknown"  # clips without an id
    assert pretrain_overlap(str(unknown), "P1", allow=True) is True
    with pytest.raises(LeakageError):
        pretrain_overlap(str(known), "P1", allow=False)
    assert pretrain_overlap(None, "P1", allow=False) is None
