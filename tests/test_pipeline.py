"""Pipelines end to end on the tiny synthetic dataset: pre-train -> export -> fine-tune a LOSO
fold -> predict a new video; the LOSO sweep with aggregation (slow tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from seizure_lightning.evaluation.aggregate import PREDICTION_COLUMNS
from seizure_lightning.evaluation.fold_record import FoldRecord, record_path
from seizure_lightning.tasks import run_task

from .conftest import compose_config, run_cli

TINY = (
    "synth=tiny", "backbone=tiny", "frames=tiny", "model=tiny", "logger=csv", "trainer=cpu",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "print_config=false",
)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, shared_root: Path, tiny_dataset: Path) -> Path:
    """A short pre-training run on the tiny dataset; returns its run dir."""
    tmp = tmp_path_factory.mktemp("pretrain")
    cfg = compose_config(tmp, ["+experiment=pretrain", *TINY, "trainer.max_epochs=6"],
                         shared_root=shared_root)
    run_task(cfg)
    return Path(cfg.paths.output_dir)


def test_pretrain_writes_export_and_beats_untrained(pretrained: Path) -> None:
    from seizure_lightning.models.encoder_export import load_encoder_export

    encoder, meta = load_encoder_export(pretrained / "encoder.pt")
    assert encoder.config.d_model == 64  # model=tiny
    assert meta["subjects_seen"], "the export records the subjects seen in pre-training"
    assert (pretrained / "checkpoints" / "last.ckpt").is_file()
    torch.load(pretrained / "checkpoints" / "last.ckpt", weights_only=True)
    metrics = json.loads((pretrained / "metrics.json").read_text())
    history = pd.read_csv(pretrained / "csv" / "metrics.csv")
    losses = history["train/loss_epoch"].dropna().to_numpy()
    assert losses[-1] < losses[0], f"pre-training loss did not fall: {losses}"
    assert metrics["val/loss"] > 0
    info = json.loads((pretrained / "run_info.json").read_text())
    assert info["task"] == "pretrain" and "torch" in info["versions"]


def test_loso_fold_then_predict(tmp_path: Path, shared_root: Path, pretrained: Path) -> None:
    cfg = compose_config(
        tmp_path,
        ["+experiment=loso", *TINY, "trainer.max_epochs=2", "data.test_subject=P01",
         f"model.init_from={pretrained / 'encoder.pt'}", "loso.allow_pretrain_overlap=true",
         "loso.decision=val_threshold"],
        shared_root=shared_root,
    )
    run_task(cfg)
    run_dir = Path(cfg.paths.output_dir)
    status = json.loads((run_dir / "status.json").read_text())
    record = FoldRecord.read(record_path(run_dir))
    assert status["status"] == "ok" and record.pretrain_overlap is True
    preds = pd.read_csv(run_dir / "predictions.csv", dtype=str)
    assert list(preds.columns) == [*PREDICTION_COLUMNS, "fold"]
    assert set(preds.subject_id) == {"P01"} and preds.video_id.is_unique
    p = preds[["p_ES", "p_PNES"]].astype(float).sum(axis=1)
    assert ((p - 1).abs() < 1e-5).all()
    scores = pd.read_csv(run_dir / "fold_scores.csv", dtype={"subject_id": str})
    assert set(scores.part) == {"train", "val", "test"}
    assert set(scores[scores.part == "test"].subject_id) == {"P01"}
    assert "P01" not in set(scores[scores.part != "test"].subject_id)

    # predict the fold's test videos with the fold's checkpoint: exactly the fold's rows
    root = next((shared_root / "data").glob("synthetic-tiny-*"))
    manifest = pd.read_csv(root / "seizures.csv", dtype=str, keep_default_na=False)
    mine = manifest[manifest.subject_id == "P01"].drop(columns=["label", "subject_id"])
    for col in ("path", "boxes"):
        mine[col] = [str(root / v) if v else "" for v in mine[col]]
    mine.to_csv(tmp_path / "new_videos.csv", index=False)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    decision = torch.load(ckpt, weights_only=True)["seizure_lightning"]["decision"]
    assert decision == record.decision.to_dict() and decision["rule"] == "val_threshold"
    out = tmp_path / "predict"
    pcfg = compose_config(
        tmp_path / "p",
        ["+experiment=predict", "print_config=false", f"predict.manifest={tmp_path / 'new_videos.csv'}",
         "backbone.allow_random_weights=true",  # the fold's random-weight backbone, on purpose
         f"predict.ckpt={ckpt}", f"predict.out={out}"],
        shared_root=shared_root,
    )
    run_task(pcfg)
    predicted = pd.read_csv(out / "predictions.csv", dtype={"video_id": str})
    assert sorted(predicted.video_id) == sorted(preds.video_id)
    for fold_row in preds.itertuples(index=False):
        result = json.loads((out / fold_row.video_id / "prediction.json").read_text())
        assert result["label"] == fold_row.pred
        assert result["p_PNES"] == pytest.approx(float(fold_row.p_PNES), abs=1e-6)
        assert result["p_ES"] == pytest.approx(float(fold_row.p_ES), abs=1e-6)
        assert result["threshold"] == pytest.approx(record.decision.threshold)
        assert result["windows"] and all(w["end_s"] > w["start_s"] for w in result["windows"])
        assert (out / fold_row.video_id / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    windows = pd.read_csv(run_dir / "windows.csv", dtype={"video_id": str})
    assert sum(len(json.loads((out / v / "prediction.json").read_text())["windows"])
               for v in preds.video_id) == len(windows)


def test_fold_refuses_pretrain_overlap(tmp_path: Path, shared_root: Path, pretrained: Path) -> None:
    cfg = compose_config(
        tmp_path,
        ["+experiment=loso", *TINY, "trainer.max_epochs=1", "data.test_subject=P01",
         f"model.init_from={pretrained / 'encoder.pt'}"],
        shared_root=shared_root,
    )
    from seizure_lightning.loso.splits import LeakageError

    with pytest.raises(LeakageError, match="allow_pretrain_overlap"):
        run_task(cfg)
    status = json.loads((Path(cfg.paths.output_dir) / "status.json").read_text())
    assert status["status"] == "failed" and "LeakageError" in status["error"]


@pytest.mark.slow
def test_loso_sweep_aggregates_and_skips_finished(tmp_path: Path, shared_root: Path) -> None:
    args = ["-m", "+experiment=loso", *TINY, "trainer.max_epochs=1", "loso.n_boot=50",
            f"paths.root_dir={shared_root}", f"paths.log_dir={tmp_path}/logs",
            "model=tiny_scratch,meanpool_linear"]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    sweep = tmp_path / "logs" / "loso" / "synthetic-tiny-seed0"
    for model in ("tiny_scratch", "meanpool_linear"):
        preds = pd.read_csv(sweep / model / "predictions.csv", dtype=str)
        assert set(preds.fold) == {"P01", "P02", "P03", "P04"}
        metrics = json.loads((sweep / model / "metrics.json").read_text())
        assert "majority_baseline" in metrics and metrics["video"]["accuracy"] is not None
        assert (sweep / model / "report.md").is_file()
    assert "majority class" in (sweep / "summary.md").read_text()
    # a re-run skips every finished fold
    second = run_cli(args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (second.stdout + second.stderr).count("skipped") == 8


@pytest.mark.parametrize("debug", ["fdr", "limit"])
def test_debug_configs_run(debug: str, tmp_path: Path, shared_root: Path, tiny_dataset: Path) -> None:
    cfg = compose_config(tmp_path, ["+experiment=pretrain", *TINY, f"debug={debug}"],
                         shared_root=shared_root)
    assert run_task(cfg) is not None
    assert (Path(cfg.paths.output_dir) / "encoder.pt").is_file()


def test_fold_with_validation_threshold(tmp_path: Path, shared_root: Path) -> None:
    """loso.decision=val_threshold: the fold records the threshold it chose on its inner
    validation subjects and decides every held-out video by it."""
    cfg = compose_config(
        tmp_path,
        ["+experiment=loso", *TINY, "model=lstm", "trainer.max_epochs=2",
         "data.test_subject=P01", "loso.decision=val_threshold"],
        shared_root=shared_root,
    )
    run_task(cfg)
    run_dir = Path(cfg.paths.output_dir)
    record = FoldRecord.read(record_path(run_dir))
    assert record.decision.rule == "val_threshold"
    threshold = record.decision.threshold
    assert 0.0 <= threshold <= 1.0 and record.split["val"]
    preds = pd.read_csv(run_dir / "predictions.csv")
    expected = preds.p_PNES.map(lambda p: "PNES" if p > threshold else "ES")
    assert (preds.pred == expected).all()


def test_changed_fold_config_retrains_instead_of_resuming(
    tmp_path: Path, shared_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A fold re-run with another config must not resume the old config's finished
    last.ckpt (that would test the old weights under the new config's name)."""
    base = ["+experiment=loso", *TINY, "model=lstm", "trainer.max_epochs=1",
            "data.test_subject=P01"]
    run_task(compose_config(tmp_path, [*base, "model.finetune.lr=0.001"],
                            shared_root=shared_root))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=True)
    with caplog.at_level("WARNING", logger="seizure_lightning.loso.fold"):
        run_task(compose_config(tmp_path, [*base, "model.finetune.lr=0.01"],
                                shared_root=shared_root))
    assert "written under another config" in caplog.text
    second = torch.load(last, weights_only=True)
    assert second["seizure_lightning_fold_config_hash"] != first["seizure_lightning_fold_config_hash"]
    changed = [k for k, v in first["state_dict"].items()
               if not torch.equal(v, second["state_dict"][k])]
    assert changed, "the fold was not re-trained"


def test_unknown_decision_rule_fails_before_training(tmp_path: Path, shared_root: Path) -> None:
    cfg = compose_config(
        tmp_path,
        ["+experiment=loso", *TINY, "model=lstm", "data.test_subject=P01",
         "loso.decision=youden"],
        shared_root=shared_root,
    )
    with pytest.raises(ValueError, match=r"loso\.decision must be one of"):
        run_task(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_fold_with_subject_norm_records_it_for_predict(tmp_path: Path, shared_root: Path) -> None:
    """meanpool_linear standardises each patient by their own statistics; the tested checkpoint
    says so, so +experiment=predict builds its inputs the same way."""
    from seizure_lightning.engine.checkpoints import read_checkpoint_entry
    from seizure_lightning.engine.inference import CKPT_KEY

    cfg = compose_config(
        tmp_path, ["+experiment=loso", *TINY, "model=meanpool_linear", "trainer.max_epochs=2",
                   "data.test_subject=P01"], shared_root=shared_root)
    assert cfg.data.subject_norm is True
    run_task(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert FoldRecord.read(record_path(run_dir)).model == "meanpool_linear"
    settings = read_checkpoint_entry(run_dir / "checkpoints" / "last.ckpt", CKPT_KEY)
    assert settings["subject_norm"] is True
