"""Is the synthetic EMU benchmark fair? Single-frame vs temporal baselines under LOSO.

(a) single-frame: features of ONE random frame of each seizure (downsampled grayscale crop of the
    patient box + colour statistics) -> logistic regression;
(b) temporal: spectrum, periodicity and envelope of the frame-difference energy inside the
    patient box -> the same logistic regression.
Both are evaluated leave-one-subject-out; prints JSON with balanced accuracy, accuracy and the
majority rate. A fair benchmark keeps (a) near 0.5 balanced accuracy (no single frame tells the
class) while (b) is clearly above it.

    python -m seizure_lightning.synthetic.fairness --preset demo --seed 0 [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from seizure_lightning.synthetic import ensure_dataset

SINGLE_HW = (16, 32)
TEMPORAL_HW = (32, 64)
BANDS_HZ = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 4.5, 6.0, 8.0, 12.5)


# ----------------------------------------------------------------------------- data
def load_seizures(root: Path) -> list[dict]:
    """Rows of seizures.csv with absolute paths and the box track loaded."""
    rows = []
    with open(root / "seizures.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            boxes = np.loadtxt(root / row["boxes"], delimiter=",", skiprows=1, ndmin=2)
            rows.append({**row, "path": root / row["path"], "box_track": boxes[:, 1:]})
    return rows


def decode(path: Path, start_s: str, end_s: str) -> tuple[np.ndarray, list[int], float]:
    """Grayscale frames [T, H, W] uint8 of the seizure part, their source indices and the fps."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        frames = [f.to_ndarray(format="gray") for f in container.decode(stream)]
    idx = list(range(len(frames)))
    if start_s:
        lo, hi = round(float(start_s) * fps), round(float(end_s) * fps)
        idx = idx[lo:hi]
    return np.stack([frames[i] for i in idx]), idx, fps


def decode_rgb(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """RGB frames at the given source indices."""
    out = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    return out


def crop_resize(img: np.ndarray, box: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Crop [.., H, W] (or [H, W, C]) to the box and area-resize to ``hw``; float32 in 0..1."""
    x1, y1, x2, y2 = (round(v) for v in box)
    x2, y2 = max(x2, x1 + 2), max(y2, y1 + 2)
    t = torch.from_numpy(np.ascontiguousarray(img)).float() / 255.0
    if t.ndim == 3 and t.shape[-1] == 3:  # [H, W, C] -> [C, H, W]
        t = t.permute(2, 0, 1)
    t = t[..., y1:y2, x1:x2]
    lead = t.shape[:-2]
    t = F.interpolate(t.reshape(1, -1, *t.shape[-2:]), size=hw, mode="area")
    return t.reshape(*lead, *hw).numpy()


# ----------------------------------------------------------------------------- features
def single_frame_features(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Downsampled gray crop + per-channel mean/std + 8-bin colour histograms."""
    crop = crop_resize(rgb, box, SINGLE_HW)  # [3, h, w]
    gray = crop.mean(axis=0).ravel()
    hist = [np.histogram(c, bins=8, range=(0, 1))[0] / c.size for c in crop]
    stats = np.concatenate([crop.mean(axis=(1, 2)), crop.std(axis=(1, 2))])
    return np.concatenate([gray, stats, *hist]).astype(np.float64)


def temporal_features(gray: np.ndarray, boxes: np.ndarray, fps: float) -> np.ndarray:
    """Spectrum, periodicity and envelope of the frame-difference energy inside the patient box."""
    union = np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])
    crops = crop_resize(gray, union, TEMPORAL_HW)  # [T, h, w]
    e = np.abs(np.diff(crops, axis=0)).mean(axis=(1, 2))
    e = e / (e.mean() + 1e-8)
    n = len(e)
    # Welch spectrum of the energy (4 s Hann windows, 50 % overlap)
    win = min(n, round(4 * fps))
    hop = max(1, win // 2)
    taper = np.hanning(win)
    segs = [e[s : s + win] for s in range(0, n - win + 1, hop)]
    spec = np.mean([np.abs(np.fft.rfft((s - s.mean()) * taper)) ** 2 for s in segs], axis=0)
    freqs = np.fft.rfftfreq(win, 1 / fps)
    band = np.array(
        [spec[(freqs >= a) & (freqs < b)].sum() for a, b in itertools.pairwise(BANDS_HZ)]
    )
    band_rel = np.log(band / (band.sum() + 1e-12) + 1e-6)
    sel = (freqs >= 0.5) & (freqs <= 8.0)
    flat = np.exp(np.mean(np.log(spec[sel] + 1e-12))) / (spec[sel].mean() + 1e-12)
    peak = spec[sel].max() / (spec[sel].mean() + 1e-12)
    # dominant frequency over time: trend and spread
    dom = [freqs[sel][np.argmax(np.abs(np.fft.rfft((s - s.mean()) * taper))[sel])] for s in segs]
    slope = np.polyfit(np.arange(len(dom)), dom, 1)[0] if len(dom) > 1 else 0.0
    # periodicity: highest autocorrelation at lags 0.15..1.2 s
    x = e - e.mean()
    ac = np.correlate(x, x, "full")[n - 1 :] / (x @ x + 1e-12)
    lags = slice(max(1, int(0.15 * fps)), max(2, int(1.2 * fps)))
    period = ac[lags].max()
    # envelope over ~1 s
    k = max(1, round(fps))
    env = np.convolve(e, np.ones(k) / k, mode="same")
    q = max(1, n // 10)
    env_feats = [
        env.std() / (env.mean() + 1e-8),
        np.mean(env < 0.3 * np.median(env)),
        env[:q].mean() / (env.mean() + 1e-8),
        env[-q:].mean() / (env.mean() + 1e-8),
        env[-2 * q : -q].mean() / (env.mean() + 1e-8),
    ]
    return np.concatenate(
        [band_rel, [np.log(flat), np.log(peak), slope, np.std(dom), period], env_feats]
    ).astype(np.float64)


# ----------------------------------------------------------------------------- classifier
def fit_logreg(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 25) -> np.ndarray:
    """Class-balanced L2 logistic regression by Newton's method; returns weights (bias last)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    sw = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (sw * (p - y)) + reg @ w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + reg + 1e-9 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def loso_predict(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, l2: float) -> np.ndarray:
    """Leave-one-subject-out predictions (standardisation fitted on the training folds)."""
    pred = np.zeros(len(y), dtype=int)
    for s in np.unique(subjects):
        test = subjects == s
        mu, sd = x[~test].mean(0), x[~test].std(0) + 1e-6
        w = fit_logreg((x[~test] - mu) / sd, y[~test], l2)
        z = np.hstack([(x[test] - mu) / sd, np.ones((test.sum(), 1))]) @ w
        pred[test] = (z > 0).astype(int)
    return pred


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    recalls = [float(np.mean(pred[y == c] == c)) for c in (0, 1) if np.any(y == c)]
    return {
        "balanced_accuracy": round(float(np.mean(recalls)), 4),
        "accuracy": round(float(np.mean(pred == y)), 4),
    }


def nn_subject_id(x: np.ndarray, subjects: np.ndarray) -> float:
    """Leave-one-video-out 1-NN subject identification accuracy (identity is visible)."""
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    has_other = np.array([np.sum(subjects == s) > 1 for s in subjects])
    return float(np.mean(subjects[d.argmin(1)][has_other] == subjects[has_other]))


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    """Generate (or read ``--data``) a dataset, score both baselines, print the JSON."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None, help="existing dataset folder")
    ap.add_argument("--cache", type=Path, default=Path("~/.cache/seizure_lightning/synthetic"))
    ap.add_argument("--repeats", type=int, default=5, help="random single-frame draws")
    ap.add_argument("--l2", type=float, default=1.0, help="L2 strength of the classifier")
    ap.add_argument("--workers", type=int, default=1, help="processes for generation")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    root = args.data or ensure_dataset(args.cache, args.preset, args.seed, workers=args.workers)
    rows = load_seizures(Path(root))
    rng = np.random.default_rng(args.seed + 12345)
    y = np.array([int(r["label"].upper() == "PNES") for r in rows])
    subjects = np.array([r["subject_id"] for r in rows])
    temporal, single = [], [[] for _ in range(args.repeats)]
    for r in rows:
        gray, idx, fps = decode(r["path"], r["start_s"], r["end_s"])
        temporal.append(temporal_features(gray, r["box_track"][idx], fps))
        picks = [idx[int(rng.integers(len(idx)))] for _ in range(args.repeats)]
        rgb = decode_rgb(r["path"], set(picks))
        for k, i in enumerate(picks):
            single[k].append(single_frame_features(rgb[i], r["box_track"][i]))
    xt = np.array(temporal)
    per_repeat = [scores(y, loso_predict(np.array(xs), y, subjects, args.l2)) for xs in single]
    result = {
        "data": str(root),
        "videos": len(rows),
        "subjects": len(np.unique(subjects)),
        "videos_per_class": {"ES": int((y == 0).sum()), "PNES": int((y == 1).sum())},
        "majority_rate": round(float(max(y.mean(), 1 - y.mean())), 4),
        "chance_balanced_accuracy": 0.5,
        "single_frame": {
            "balanced_accuracy": round(
                float(np.mean([s["balanced_accuracy"] for s in per_repeat])), 4
            ),
            "accuracy": round(float(np.mean([s["accuracy"] for s in per_repeat])), 4),
            "per_draw": per_repeat,
            "subject_identification_1nn": round(nn_subject_id(np.array(single[0]), subjects), 4),
        },
        "temporal": scores(y, loso_predict(xt, y, subjects, args.l2)),
        "l2": args.l2,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
