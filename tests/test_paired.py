"""Paired patient-bootstrap differences of two models (evaluation.metrics.paired_difference,
evaluation.comparisons) and the sweep's summary (report.sweep: summary.md, summary.png) written
when a sweep ends (loso.callback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seizure_lightning.evaluation.comparisons import compare_models, compare_pairs, split_pair
from seizure_lightning.evaluation.metrics import evaluate, paired_difference
from seizure_lightning.report.sweep import summary_markdown, verdict


def truth(n_subjects: int = 20, videos: int = 4) -> pd.DataFrame:
    """Half ES, half PNES patients, ``videos`` videos each, predictions still to fill."""
    rows = []
    for s in range(n_subjects):
        label = "ES" if s % 2 == 0 else "PNES"
        for v in range(videos):
            rows.append({"video_id": f"S{s}_v{v}", "subject_id": f"S{s}", "label": label,
                         "fold": f"S{s}"})
    return pd.DataFrame(rows)


def with_scores(frame: pd.DataFrame, p_pnes: np.ndarray) -> pd.DataFrame:
    out = frame.copy()
    out["p_PNES"] = p_pnes
    out["p_ES"] = 1 - out["p_PNES"]
    out["pred"] = np.where(out["p_PNES"] > 0.5, "PNES", "ES")
    return out[["video_id", "subject_id", "label", "pred", "p_ES", "p_PNES", "fold"]]


def perfect(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    is_pnes = (frame["label"] == "PNES").to_numpy()
    return with_scores(frame, np.where(is_pnes, rng.uniform(0.6, 1.0, len(frame)),
                                       rng.uniform(0.0, 0.4, len(frame))))


def coin(frame: pd.DataFrame, seed: int = 2) -> pd.DataFrame:
    return with_scores(frame, np.random.default_rng(seed).uniform(0, 1, len(frame)))


def test_identical_models_differ_by_zero() -> None:
    a = coin(truth())
    out = paired_difference(a, a.copy(), n_boot=300, seed=0)
    for name in ("balanced_accuracy", "auroc"):
        assert out[name]["difference"] == 0.0
        assert out[name]["ci"] == [0.0, 0.0]
        assert out[name]["p_le_0"] == 1.0
        assert out[name]["a"] == out[name]["b"]
    assert (out["n_videos"], out["n_subjects"], out["n_boot"], out["seed"]) == (80, 20, 300, 0)


def test_perfect_beats_coin_flip() -> None:
    frame = truth(20)
    out = paired_difference(perfect(frame), coin(frame), n_boot=500, seed=0)
    for name in ("balanced_accuracy", "auroc"):
        assert out[name]["a"] == 1.0 and out[name]["b"] < 0.75
        assert out[name]["difference"] == pytest.approx(1.0 - out[name]["b"])
        low, high = out[name]["ci"]
        assert 0 < low <= out[name]["difference"] <= high
        assert out[name]["p_le_0"] == 0.0


def test_point_figures_match_evaluate() -> None:
    frame = truth(12, 3)
    a, b = coin(frame, 3), coin(frame, 4)
    out = paired_difference(a, b, n_boot=0)
    video_a, video_b = evaluate(a, n_boot=0)["video"], evaluate(b, n_boot=0)["video"]
    for name in ("balanced_accuracy", "auroc"):
        assert out[name]["a"] == pytest.approx(video_a[name])
        assert out[name]["b"] == pytest.approx(video_b[name])
        assert out[name]["ci"] == [None, None] and out[name]["p_le_0"] is None


def test_swap_negates_and_mirrors() -> None:
    frame = truth(16, 3)
    a, b = coin(frame, 5), perfect(frame, 6)
    ab = paired_difference(a, b, n_boot=400, seed=7)
    # row order must not matter: the tables are joined on video_id
    ba = paired_difference(b.sample(frac=1, random_state=0), a, n_boot=400, seed=7)
    for name in ("balanced_accuracy", "auroc"):
        assert ba[name]["difference"] == pytest.approx(-ab[name]["difference"])
        assert ba[name]["ci"][0] == pytest.approx(-ab[name]["ci"][1])
        assert ba[name]["ci"][1] == pytest.approx(-ab[name]["ci"][0])
        assert ab[name]["ci"][1] < 0  # b (perfect) is better


def test_paired_ci_is_narrower_than_unpaired() -> None:
    """Two correlated models: the paired CI of the difference must be narrower than the
    difference of independently resampled figures (the point of pairing)."""
    frame = truth(20)
    rng = np.random.default_rng(0)
    base = perfect(frame)["p_PNES"].to_numpy() * 0.5 + rng.uniform(0, 0.5, len(frame))
    a = with_scores(frame, np.clip(base, 0, 1))
    b = with_scores(frame, np.clip(base + rng.normal(0, 0.05, len(frame)), 0, 1))
    paired = paired_difference(a, b, n_boot=500, seed=0)["auroc"]["ci"]
    unpaired_a = evaluate(a, n_boot=500, seed=1)["video"]["ci"]["auroc"]
    unpaired_b = evaluate(b, n_boot=500, seed=2)["video"]["ci"]["auroc"]
    unpaired = ((unpaired_a["high"] - unpaired_a["low"]) ** 2
                + (unpaired_b["high"] - unpaired_b["low"]) ** 2) ** 0.5
    assert paired[1] - paired[0] < unpaired / 2


def test_mismatched_videos_raise() -> None:
    frame = truth(6, 2)
    a, b = coin(frame), coin(frame)
    with pytest.raises(ValueError, match=r"only in a: 'S5_v1'"):
        paired_difference(a, b.iloc[:-1])
    extra = pd.concat([b, b.iloc[[0]].assign(video_id="new")], ignore_index=True)
    with pytest.raises(ValueError, match=r"only in b: 'new'"):
        paired_difference(a, extra)
    relabelled = b.copy()
    relabelled.loc[0, "label"] = "PNES"
    with pytest.raises(ValueError, match=r"different labels for video\(s\) 'S0_v0'"):
        paired_difference(a, relabelled)
    moved = b.copy()
    moved.loc[1, "subject_id"] = "S9"
    with pytest.raises(ValueError, match=r"different subject_ids for video\(s\) 'S0_v1'"):
        paired_difference(a, moved)
    with pytest.raises(ValueError, match="duplicated video_id"):
        paired_difference(pd.concat([a, a.iloc[[0]]]), b)
    with pytest.raises(ValueError, match="unknown metric"):
        paired_difference(a, b, metrics=("balanced_acc",))


def test_deterministic_in_seed() -> None:
    frame = truth(14, 3)
    a, b = coin(frame, 8), coin(frame, 9)
    first = paired_difference(a, b, n_boot=200, seed=3)
    assert paired_difference(a, b, n_boot=200, seed=3) == first
    other = paired_difference(a, b, n_boot=200, seed=4)
    assert other["balanced_accuracy"]["difference"] == first["balanced_accuracy"]["difference"]
    assert other["auroc"]["ci"] != first["auroc"]["ci"]


# ----------------------------------------------------------------------- the sweep summary
def test_pairs_and_verdicts() -> None:
    assert compare_pairs(None) == [] and compare_pairs([]) == []
    assert compare_pairs("tiny-lstm") == ["tiny-lstm"]
    with pytest.raises(ValueError, match="not 'A-B'"):
        compare_pairs(["tiny"])
    assert split_pair("tiny-tiny_scratch", ["tiny", "tiny_scratch"]) == ("tiny", "tiny_scratch")
    assert split_pair("a-b-c", ["a-b", "c"]) == ("a-b", "c")
    assert verdict("A", "B", [0.01, 0.2]) == "A better: CI above 0"
    assert verdict("A", "B", [-0.2, -0.01]) == "B better: CI below 0"
    assert verdict("A", "B", [-0.1, 0.1]) == "no difference shown: CI includes 0"
    assert verdict("A", "B", [0.0, 0.0]) == "no difference shown: CI includes 0"
    assert verdict("A", "B", [None, None]) == "no CI"


def _sweep(tmp_path: Path) -> tuple[Path, list[dict]]:
    frame = truth(20)
    rows = []
    for model, table in (("tiny", perfect(frame)), ("tiny_scratch", coin(frame))):
        (tmp_path / model).mkdir()
        table.to_csv(tmp_path / model / "predictions.csv", index=False)
        rows.append({"model": model, "metrics": evaluate(table, n_boot=200, seed=0)})
    return tmp_path, rows


def test_summary_lists_cis_and_comparisons(tmp_path: Path) -> None:
    sweep, rows = _sweep(tmp_path)
    comparisons = compare_models(
        sweep, ["tiny-tiny_scratch", "tiny_scratch-tiny", "tiny-lstm"], ["tiny", "tiny_scratch"],
        n_boot=200, seed=0)
    assert [c["pair"] for c in comparisons["comparisons"]] == ["tiny-tiny_scratch",
                                                               "tiny_scratch-tiny"]
    assert comparisons["skipped"][0]["pair"] == "tiny-lstm"
    assert "lstm" in comparisons["skipped"][0]["reason"]
    text = summary_markdown(rows, sweep, comparisons)

    # each model's balanced accuracy with its bootstrap CI from metrics.json video.ci
    ci = rows[1]["metrics"]["video"]["ci"]["balanced_accuracy"]
    value = rows[1]["metrics"]["video"]["balanced_accuracy"]
    assert f"{value:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]" in text
    assert "1.000 [1.000, 1.000]" in text  # the perfect model
    assert "majority class" in text

    assert "## Paired comparisons" in text
    forward = next(line for line in text.splitlines() if line.startswith("| tiny | tiny_scratch"))
    backward = next(line for line in text.splitlines()
                    if line.startswith("| tiny_scratch | tiny |"))
    c = comparisons["comparisons"][0]["balanced_accuracy"]
    assert f"{c['difference']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]" in forward
    assert "balanced accuracy: tiny better: CI above 0" in forward
    assert "AUROC: tiny better: CI above 0" in forward
    assert "balanced accuracy: tiny better: CI below 0" in backward
    assert "- tiny-lstm: not in the sweep" in text

    # no comparisons asked: no section; the function is pure (same input, same text)
    plain = summary_markdown(rows, sweep)
    assert "Paired comparisons" not in plain and plain == summary_markdown(rows, sweep)


def test_summary_without_bootstrap(tmp_path: Path) -> None:
    frame = truth(6, 2)
    rows = [{"model": "tiny", "metrics": evaluate(coin(frame), n_boot=0)}]
    text = summary_markdown(rows, tmp_path)
    assert "[n/a]" in text and "n_boot=0" in text


def test_incomplete_sweep_is_loud(tmp_path: Path) -> None:
    """A model with a failed fold: every summary says which, and the sweep's end raises (the
    command exits non-zero) after writing them."""
    from omegaconf import OmegaConf

    from seizure_lightning.loso.callback import LosoSweepCallback
    from seizure_lightning.report.sweep import incomplete_folds

    sweep, rows = _sweep(tmp_path)
    rows[0]["metrics"]["extra"] = {"folds_failed": ["P07"], "folds_missing": []}
    assert incomplete_folds(rows) == {rows[0]["model"]: ["P07"]}
    assert f"{rows[0]['model']}: fold(s) P07 failed or are missing" in summary_markdown(rows, sweep)

    fold = tmp_path / "run" / "m" / "fold=P01"
    fold.mkdir(parents=True)
    (fold / "status.json").write_text('{"status": "failed", "fold": "P01", "error": "boom"}')
    ok = tmp_path / "run" / "m" / "fold=P02"
    ok.mkdir()
    rows[1]["metrics"].pop("extra", None)
    pd.DataFrame({"video_id": ["v1", "v2"], "subject_id": ["P02", "P02"], "label": ["ES", "ES"],
                  "pred": ["ES", "PNES"], "p_ES": [0.9, 0.4], "p_PNES": [0.1, 0.6],
                  "fold": ["P02", "P02"]}).to_csv(ok / "predictions.csv", index=False)
    (ok / "status.json").write_text('{"status": "ok", "fold": "P02"}')
    (ok / ".hydra").mkdir()
    (ok / ".hydra" / "config.yaml").write_text(
        "model:\n  name: m\n  init_from: null\n  encoder:\n    d_model: 64\n"
        "    num_layers: 2\n    num_heads: 4\n    ffn_dim: 128\n")
    config = OmegaConf.create({
        "loso": {"report": True, "n_boot": 20, "allow_pretrain_overlap": False,
                 "decision": "argmax", "compare": []},
        "seed": 0, "logger": None, "hydra": {"sweep": {"dir": str(tmp_path / "run")}}})
    with pytest.raises(RuntimeError, match=r"m: fold\(s\) P01 failed or missing"):
        LosoSweepCallback().on_multirun_end(config)
    assert "P01" in (tmp_path / "run" / "summary.md").read_text()
    assert (tmp_path / "run" / "summary.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "run" / "m" / "report.md").read_text()
    assert "deviations from the paper" in report and "no pre-training" in report


def test_summary_png_shows_each_model_and_pair(tmp_path: Path, monkeypatch) -> None:
    """summary.png: balanced accuracy and AUROC per model (best on top, a line at chance) and,
    below, each compared pair's difference (a line at 0)."""
    from seizure_lightning.report import plots
    from seizure_lightning.report.sweep import write_sweep_summary

    sweep, rows = _sweep(tmp_path)
    comparisons = compare_models(sweep, ["tiny_scratch-tiny"], ["tiny", "tiny_scratch"],
                                 n_boot=100, seed=0)
    figures = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or save(fig, path))
    text = write_sweep_summary(sweep, rows, comparisons)
    assert (sweep / "summary.md").read_text() == text and "summary.png" in text
    assert (sweep / "summary.png").read_bytes()[:4] == b"\x89PNG"
    axes = figures[0].axes
    assert [ax.get_title() for ax in axes] == [
        "Balanced accuracy [95% CI]", "AUROC [95% CI]",
        "Paired Δ balanced accuracy, A − B [95% CI]", "Paired Δ AUROC, A − B [95% CI]"]

    def top_down(ax) -> list[str]:
        ticks = zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()))
        return [label for _, label in sorted(ticks, reverse=True)]

    def vertical_lines(ax) -> set[float]:
        return {line.get_xdata()[0] for line in ax.lines
                if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2}

    assert top_down(axes[0]) == ["tiny", "tiny_scratch"]  # the perfect model first
    assert top_down(axes[2]) == ["tiny_scratch − tiny"]
    assert 0.5 in vertical_lines(axes[0]) and 0.0 in vertical_lines(axes[3])
    write_sweep_summary(sweep, rows, None)  # no pairs: the models' row only
    assert len(figures[1].axes) == 2
