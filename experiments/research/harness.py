"""Fast LOSO harness (plain PyTorch, no Lightning) over the project's cached descriptors.

Reads the seizure descriptor cache through the project's SeizureVideoDataModule.setup()
(FeatureCache, centre crop 0, as the framework's fine-tuning does), cuts windows of 256 frames
(stride 128, last window end-aligned: data.windows.window_starts), and runs leave-one-subject-out:
one fold per subject, inner validation subjects from the TRAINING subjects only
(evaluation.folds.inner_validation_subjects, fraction 0.15, seed 42 = the framework's), a fixed
number of epochs, last-epoch weights, video p_PNES = mean of the window softmax.

Usage (see experiments/research/README.md for the environment):
  python experiments/research/harness.py --model tf --rep window --cw window --tag NAME
Options: see argparse below. Results -> $RESEARCH_OUT/results/<tag>.json and a line in
$RESEARCH_OUT/results/summary.tsv.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

torch.set_num_threads(1)

OUT = Path(os.environ.get("RESEARCH_OUT", Path(__file__).resolve().parent))
RES = OUT / "results"
PROJ = None  # session 3: --proj npz (P [D,k], floor [k], log) for rep "proj"
FLOOR_ABS = None  # --floor_abs: an absolute RMS floor (e.g. the one of a pre-training export)
ROOT = Path(os.environ.get("RESEARCH_ROOT", OUT / "root"))


# ----------------------------------------------------------------------------- data
def compose(overrides: list[str]):
    from hydra import compose as hcompose
    from hydra import initialize_config_dir

    from seizure_lightning.utils.resolvers import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=os.environ["SEIZURE_LIGHTNING_CONFIG_DIR"],
                               version_base=None):
        return hcompose(config_name="config", overrides=overrides)


def load_seizure_data(synth: str = "demo", synth_seed: int = 0, extra: list[str] | None = None):
    """Per-video descriptor arrays [T, D] (crop 0) + table, via the project's DataModule."""
    from hydra.utils import instantiate

    cfg = compose(["+experiment=loso", f"synth={synth}", f"synth.seed={synth_seed}",
                   f"paths.root_dir={ROOT}", "logger=none", *(extra or [])])
    dm = instantiate(cfg.data, _convert_="all", test_subject=None)
    dm.setup()
    vids = dm.videos
    feats = {}
    for vid in vids.video_id:
        feats[vid] = np.asarray(dm.cache.features(vid)[:, 0], dtype=np.float32)
    return cfg, dm, vids.reset_index(drop=True), feats


def window_starts(length, window, stride):
    from seizure_lightning.data.windows import window_starts as ws

    return ws(length, window, stride)


# ----------------------------------------------------------------------------- representations
def to_rep(seq: np.ndarray, rep: str, subj_stats: dict | None) -> np.ndarray:
    """Video-level part of the representation (before windowing)."""
    x = seq
    if rep.startswith("subj"):
        mu, s = subj_stats["mu"], subj_stats["rms"]
        x = (x - mu) / s
    if "diff" in rep:
        d = np.zeros_like(x)
        d[1:] = x[1:] - x[:-1]
        x = d
    if rep == "proj":
        from motion_feats import motion_channels

        return motion_channels(x, PROJ["P"], bool(PROJ["log"]), PROJ["groups"])
    if "energy" in rep:
        # motion energy e_t = ||x_t - x_(t-1)|| (MotionSpectrum's signal): a 1-d sequence
        e = np.zeros((x.shape[0], 1), np.float32)
        e[1:, 0] = np.linalg.norm(x[1:] - x[:-1], axis=1)
        x = e
    return x


def window_norm(xw: np.ndarray, valid: int, floor: float | None) -> tuple[np.ndarray, float]:
    v = xw[:valid]
    mean = v.mean(0, keepdims=True)
    c = v - mean
    rms = float(np.sqrt((c ** 2).mean()))
    out = np.zeros_like(xw)
    out[:valid] = c / max(rms, floor if floor else 1e-6)
    return out, rms


def build_windows(vids, feats, rep: str, window=256, stride=128, floor_mult: float | None = None,
                  floor_subjects: list[str] | None = None):
    """All windows of all videos in representation ``rep``.

    rep: raw | window | windowfloor | diff | difffloor | subj | subjdiff | subjwindow ...
    'window'/'floor' in the name -> per-window centring + division by the window RMS (with a
    floor = floor_mult x median window RMS of the windows of ``floor_subjects``).
    """
    subj_stats = {}
    if rep.startswith("subj"):
        for s, g in vids.groupby("subject_id"):
            allx = np.concatenate([feats[v] for v in g.video_id])
            mu = allx.mean(0, keepdims=True)
            rms = float(np.sqrt(((allx - mu) ** 2).mean()))
            subj_stats[s] = {"mu": mu, "rms": rms}
    X, M, meta = [], [], []
    for i, row in vids.iterrows():
        seq = to_rep(feats[row.video_id], rep, subj_stats.get(row.subject_id))
        T = seq.shape[0]
        for st in window_starts(T, window, stride):
            chunk = seq[st:st + window]
            xw = np.zeros((window, seq.shape[1]), np.float32)
            xw[:len(chunk)] = chunk
            m = np.zeros(window, bool)
            m[:len(chunk)] = True
            X.append(xw)
            M.append(m)
            meta.append((i, st, len(chunk)))
    X = np.stack(X)
    M = np.stack(M)
    meta = np.array(meta)
    rms_all = None
    if rep == "proj":
        from motion_feats import window_norm_channels

        for k in range(len(X)):
            X[k], _ = window_norm_channels(X[k], meta[k, 2], PROJ["floor"])
        return X, M, meta, rms_all
    if "window" in rep or "floor" in rep or rep in ("diff", "energy"):
        rms_all = np.zeros(len(X))
        raw = X.copy()
        for k in range(len(X)):
            _, rms_all[k] = window_norm(raw[k], meta[k, 2], None)
        floor = None
        if "floor" in rep:
            sel = np.ones(len(X), bool)
            if floor_subjects is not None:
                subj = vids.subject_id.values[meta[:, 0]]
                sel = np.isin(subj, floor_subjects)
            floor = floor_mult * float(np.median(rms_all[sel]))
            if FLOOR_ABS is not None:
                floor = FLOOR_ABS
        for k in range(len(X)):
            X[k], _ = window_norm(raw[k], meta[k, 2], floor)
    return X, M, meta, rms_all


# ----------------------------------------------------------------------------- models
class Model(nn.Module):
    def __init__(self, kind: str, dim: int, d_model=64, layers=2, dropout_head=0.5, fps=25.0,
                 lstm_hidden=64, init_from: str | None = None):
        super().__init__()
        self.kind = kind
        if kind == "tf":
            from seizure_lightning.models.sequence_encoder import SequenceEncoder

            if init_from:
                state = torch.load(init_from, weights_only=True)
                self.backbone = SequenceEncoder(state["config"])
                self.backbone.load_state_dict(state["state_dict"])
            else:
                self.backbone = SequenceEncoder(dict(input_dim=dim, d_model=d_model,
                                                     num_layers=layers, num_heads=4,
                                                     ffn_dim=2 * d_model, max_positions=256,
                                                     input_norm="none"))
            out = d_model
        elif kind == "lstm":
            from seizure_lightning.models.baselines import LSTMClassifier

            self.backbone = LSTMClassifier(dict(input_dim=dim, hidden_size=lstm_hidden,
                                                bidirectional=True, input_norm="none"))
            out = 2 * lstm_hidden
        elif kind == "meanpool":
            self.backbone = None
            out = dim
        elif kind == "motion":
            from seizure_lightning.models.baselines import MotionSpectrum

            self.backbone = MotionSpectrum(dict(input_dim=dim, fps=fps, max_hz=8.0, bands=16))
            out = self.backbone.output_dim
        else:
            raise ValueError(kind)
        self.drop = nn.Dropout(dropout_head)
        self.head = nn.Linear(out, 2)

    def pooled(self, x, m):
        if self.kind == "meanpool":
            h = x
        else:
            h = self.backbone(x, m)
        if h.dim() == 2:
            return h
        w = m.float().unsqueeze(-1)
        return (h * w).sum(1) / w.sum(1).clamp(min=1)

    def forward(self, x, m):
        return self.head(self.drop(self.pooled(x, m)))


# ----------------------------------------------------------------------------- metrics
def auroc(y, s):
    y = np.asarray(y)
    s = np.asarray(s, float)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(gt / (len(pos) * len(neg)))


def bal_acc(y, pred):
    y, pred = np.asarray(y), np.asarray(pred)
    return float(np.mean([(pred[y == c] == c).mean() for c in (0, 1) if (y == c).any()]))


def probe_accuracy(feat: np.ndarray, subj: np.ndarray, vid: np.ndarray, steps=200, l2=1e-3):
    """Subject-identity linear probe: train on every other video of each subject (videos sorted),
    test on the rest; subjects with one video are left out. Returns (accuracy, chance)."""
    train, test = np.zeros(len(feat), bool), np.zeros(len(feat), bool)
    keep_subj = []
    for s in np.unique(subj):
        vs = sorted(set(vid[subj == s]))
        if len(vs) < 2:
            continue
        keep_subj.append(s)
        for j, v in enumerate(vs):
            (train if j % 2 == 0 else test)[vid == v] = True
    if len(keep_subj) < 2 or not test.any():
        return float("nan"), float("nan")
    lab = {s: i for i, s in enumerate(keep_subj)}
    y = torch.tensor([lab.get(s, -1) for s in subj])
    f = torch.tensor(feat, dtype=torch.float32)
    mu, sd = f[train].mean(0), f[train].std(0).clamp(min=1e-6)
    f = (f - mu) / sd
    W = torch.zeros(f.shape[1], len(keep_subj), requires_grad=True)
    b = torch.zeros(len(keep_subj), requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=steps, line_search_fn="strong_wolfe")
    tr = torch.tensor(train)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(f[tr] @ W + b, y[tr]) + l2 * (W ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        te = torch.tensor(test)
        acc = float(((f[te] @ W + b).argmax(1) == y[te]).float().mean())
    return acc, 1.0 / len(keep_subj)


# ----------------------------------------------------------------------------- training
def sample_weights(labels, subjects, mode):
    """Per-window loss weights. window: 1/#windows of the class (the framework's);
    patient: 1/(#windows of the subject x #subjects of the class); none: 1."""
    labels = np.asarray(labels)
    subjects = np.asarray(subjects)
    w = np.ones(len(labels))
    if mode == "window":
        for c in (0, 1):
            w[labels == c] = 1.0 / max((labels == c).sum(), 1)
    elif mode == "patient":
        for c in (0, 1):
            subs = np.unique(subjects[labels == c])
            for s in subs:
                sel = subjects == s
                w[sel] = 1.0 / (sel.sum() * len(subs))
    return w / w.mean()


def val_loss(model, X, M, y, va_idx):
    """Class-balanced (1/#windows per class) window CE on the inner validation subjects."""
    model.eval()
    with torch.no_grad():
        x, m = torch.from_numpy(X[va_idx]), torch.from_numpy(M[va_idx])
        ce = F.cross_entropy(model(x, m), torch.from_numpy(y[va_idx]), reduction="none").numpy()
    yy = y[va_idx]
    model.train()
    return float(np.mean([ce[yy == c].mean() for c in (0, 1) if (yy == c).any()]))


def train_fold(args, X, M, y, subj, tr_idx, seed, dim, init_from=None, va_idx=None, info=None):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = Model(args.model, dim, d_model=args.d_model, layers=args.layers,
                  dropout_head=(0.0 if args.model in ("meanpool", "motion") else 0.5),
                  init_from=init_from)
    if args.freeze and model.backbone is not None:
        for p_ in model.backbone.parameters():
            p_.requires_grad_(False)
    groups = []
    for part, mult in ((model.backbone, args.enc_lr_mult), (model.head, 1.0)):
        if part is None:
            continue
        ps_ = [p for p in part.parameters() if p.requires_grad]
        groups += [{"params": [p for p in ps_ if p.ndim >= 2], "lr": args.lr * mult},
                   {"params": [p for p in ps_ if p.ndim < 2], "weight_decay": 0.0, "lr": args.lr * mult}]
    groups = [g for g in groups if g["params"]]
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=1e-4)
    w_all = sample_weights(y[tr_idx], subj[tr_idx], args.cw)
    n = len(tr_idx)
    steps_per_epoch = math.ceil(n / args.batch)
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / total))
    if args.sampler == "subject":
        # each epoch: n draws, subjects of a class equally likely, classes equally likely
        ps = sample_weights(y[tr_idx], subj[tr_idx], "patient")
        ps = ps / ps.sum()
    Xt = torch.from_numpy(X)
    Mt = torch.from_numpy(M)
    yt = torch.from_numpy(y)
    model.train()
    if args.freeze and model.backbone is not None:
        model.backbone.eval()  # frozen: no dropout inside the encoder
    best = (float("inf"), -1, None)
    for ep in range(args.epochs):
        if args.sampler == "subject":
            order = rng.choice(n, size=n, replace=True, p=ps)
        else:
            order = rng.permutation(n)
        for b in range(steps_per_epoch):
            sel = order[b * args.batch:(b + 1) * args.batch]
            idx = tr_idx[sel]
            logits = model(Xt[idx], Mt[idx])
            ce = F.cross_entropy(logits.float(), yt[idx], reduction="none")
            if args.sampler == "subject" or args.cw == "none":
                loss = ce.mean()
            else:
                w = torch.tensor(w_all[sel], dtype=torch.float32)
                loss = (ce * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if args.early_stop:
            vl = val_loss(model, X, M, y, va_idx)
            if args.freeze and model.backbone is not None:
                model.backbone.eval()
            if vl < best[0]:
                best = (vl, ep + 1, {k: v.clone() for k, v in model.state_dict().items()})
    if args.early_stop:
        model.load_state_dict(best[2])
        if info is not None:
            info["best_epoch"], info["best_val_loss"] = best[1], best[0]
    model.eval()
    return model


@torch.no_grad()
def predict(model, X, M, idx, bs=64):
    probs, pooled = [], []
    for b in range(0, len(idx), bs):
        j = idx[b:b + bs]
        x, m = torch.from_numpy(X[j]), torch.from_numpy(M[j])
        h = model.pooled(x, m)
        pooled.append(h.numpy())
        probs.append(model.head(h).softmax(-1)[:, 1].numpy())
    return np.concatenate(probs), np.concatenate(pooled)


def video_p(p_win, vid_of_win):
    out = {}
    for v in np.unique(vid_of_win):
        out[int(v)] = float(p_win[vid_of_win == v].mean())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tf", choices=["tf", "lstm", "meanpool", "motion"])
    ap.add_argument("--rep", default="window")
    ap.add_argument("--floor", type=float, default=1.0, help="floor = this x median window RMS")
    ap.add_argument("--floor_abs", type=float, default=None)
    ap.add_argument("--cw", default="window", choices=["window", "patient", "none"])
    ap.add_argument("--sampler", default="uniform", choices=["uniform", "subject"])
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--d_model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init_from", default=None, help="harness pre-training export (pretext.py)")
    ap.add_argument("--synth", default="demo")
    ap.add_argument("--synth_seed", type=int, default=0)
    ap.add_argument("--synth_extra", nargs="*", default=[])
    ap.add_argument("--folds", default=None, help="comma list of held-out subjects (default all)")
    ap.add_argument("--no_probe", action="store_true")
    ap.add_argument("--proj", default=None, help="session 3: npz of s3/fit_proj.py (rep proj)")
    ap.add_argument("--freeze", action="store_true", help="session 3: frozen encoder, head only")
    ap.add_argument("--enc_lr_mult", type=float, default=1.0, help="session 3: encoder lr = this x lr")
    ap.add_argument("--early_stop", action="store_true",
                    help="session 3: keep the epoch with the lowest inner-validation loss")
    ap.add_argument("--tag", required=True)
    args = ap.parse_args(argv)
    if args.proj:
        global PROJ
        f = np.load(args.proj)
        PROJ = {"P": f["P"], "floor": f["floor"], "log": bool(f["log"]),
                "groups": int(f["groups"]) if "groups" in f else 0}
    if args.lr is None:
        args.lr = {"tf": 5e-4, "lstm": 1e-3, "meanpool": 5e-3, "motion": 5e-3}[args.model]
    RES.mkdir(parents=True, exist_ok=True)
    global FLOOR_ABS
    FLOOR_ABS = args.floor_abs
    t0 = time.time()
    cfg, dm, vids, feats = load_seizure_data(args.synth, args.synth_seed, args.synth_extra)
    from seizure_lightning.evaluation.folds import (inner_validation_subjects, loso_subjects,
                                                    subject_majority_labels)

    subjects = loso_subjects(vids.subject_id)
    vlabel = (vids.label.values == "PNES").astype(int)
    rep = "raw" if args.model == "motion" else args.rep
    t_load = time.time() - t0
    folds = subjects if not args.folds else args.folds.split(",")
    rows, fold_diag = [], []
    X_cache = {}
    t_train = 0.0
    for test_s in folds:
        rest = vids[vids.subject_id != test_s]
        labels = subject_majority_labels(rest)
        val = inner_validation_subjects(labels, fraction=0.15, seed=int(cfg.seed))
        train = [s for s in subjects if s != test_s and s not in val]
        key = rep if "floor" not in rep else (rep, tuple(train))
        if key not in X_cache:
            X_cache.clear()
            X_cache[key] = build_windows(vids, feats, rep, floor_mult=args.floor,
                                         floor_subjects=train)
        X, M, meta, _ = X_cache[key]
        wsubj = vids.subject_id.values[meta[:, 0]]
        wy = vlabel[meta[:, 0]]
        tr_idx = np.flatnonzero(np.isin(wsubj, train))
        va_idx = np.flatnonzero(np.isin(wsubj, val))
        te_idx = np.flatnonzero(wsubj == test_s)
        t1 = time.time()
        info = {}
        model = train_fold(args, X, M, wy, wsubj, tr_idx, args.seed, X.shape[-1],
                           init_from=args.init_from, va_idx=va_idx, info=info)
        t_train += time.time() - t1
        all_idx = np.arange(len(X))
        pw, pooled = predict(model, X, M, all_idx)
        vp = video_p(pw, meta[:, 0])
        from seizure_lightning.evaluation.threshold import choose_threshold

        vval = [v for v in vp if vids.subject_id[v] in val]
        thr = choose_threshold([vlabel[v] for v in vval], [vp[v] for v in vval])
        for v in vp:
            if vids.subject_id[v] == test_s:
                rows.append(dict(fold=test_s, video_id=vids.video_id[v], subject_id=test_s,
                                 y=int(vlabel[v]), p=vp[v], thr=thr))
        # diagnostics
        def mean_p(subs):
            vs = [vp[v] for v in vp if vids.subject_id[v] in subs]
            return float(np.mean(vs)) if vs else float("nan")
        tr_es = [s for s in train if labels[s] == "ES"]
        tr_pn = [s for s in train if labels[s] == "PNES"]
        d = dict(fold=test_s, label=int(vlabel[vids.subject_id == test_s][0]), thr=thr,
                 p_train=mean_p(train), p_train_es=mean_p(tr_es), p_train_pnes=mean_p(tr_pn),
                 p_val=mean_p(val), p_test=mean_p([test_s]),
                 frac_pnes_train_subjects=len(tr_pn) / len(train),
                 frac_pnes_train_windows=float(wy[tr_idx].mean()),
                 train_bal_acc_windows=bal_acc(wy[tr_idx], (pw[tr_idx] > 0.5).astype(int)), **info)
        if not args.no_probe:
            notest = np.flatnonzero(wsubj != test_s)
            d["probe_acc"], d["probe_chance"] = probe_accuracy(
                pooled[notest], wsubj[notest], meta[notest, 0])
        fold_diag.append(d)
        print(f"fold {test_s} y={d['label']} p_test={d['p_test']:.3f} p_tr_es={d['p_train_es']:.3f}"
              f" p_tr_pn={d['p_train_pnes']:.3f} thr={thr:.3f} probe={d.get('probe_acc', 0):.2f}",
              flush=True)
    y = np.array([r["y"] for r in rows])
    p = np.array([r["p"] for r in rows])
    thr = np.array([r["thr"] for r in rows])
    eps = 1e-6
    lg = lambda q: np.log(np.clip(q, eps, 1 - eps)) - np.log(np.clip(1 - q, eps, 1 - eps))
    res = dict(
        args=vars(args), n_videos=len(rows), n_folds=len(folds),
        auroc=auroc(y, p), auroc_cal=auroc(y, lg(p) - lg(thr)),
        bal_acc_valthr=bal_acc(y, (p > thr).astype(int)), bal_acc_argmax=bal_acc(y, (p > 0.5).astype(int)),
        acc_valthr=float(((p > thr).astype(int) == y).mean()),
        mean_p_test_es=float(p[y == 0].mean()), mean_p_test_pnes=float(p[y == 1].mean()),
        probe_acc=float(np.nanmean([d.get("probe_acc", np.nan) for d in fold_diag])) if not args.no_probe else None,
        probe_chance=float(np.nanmean([d.get("probe_chance", np.nan) for d in fold_diag])) if not args.no_probe else None,
        mean_p_train_es=float(np.nanmean([d["p_train_es"] for d in fold_diag])),
        mean_p_train_pnes=float(np.nanmean([d["p_train_pnes"] for d in fold_diag])),
        time_load_s=t_load, time_train_s=t_train, time_total_s=time.time() - t0,
        folds=fold_diag, videos=rows,
    )
    (RES / f"{args.tag}.json").write_text(json.dumps(res, indent=1))
    line = (f"{args.tag}\t{args.model}\t{rep}\t{args.cw}\t{args.sampler}\tep={args.epochs}\tlr={args.lr}"
            f"\tAUROC={res['auroc']:.3f}\tAUROCcal={res['auroc_cal']:.3f}\tBA_valthr={res['bal_acc_valthr']:.3f}"
            f"\tBA_argmax={res['bal_acc_argmax']:.3f}\tpES={res['mean_p_test_es']:.3f}\tpPNES={res['mean_p_test_pnes']:.3f}"
            f"\tprobe={res['probe_acc']}/{res['probe_chance']}\ttrain_s={t_train:.0f}\ttotal_s={res['time_total_s']:.0f}")
    with open(RES / "summary.tsv", "a") as fh:
        fh.write(" ".join(sys.argv[1:]) + "\n  " + line + "\n")
    print(line)
    return res


if __name__ == "__main__":
    main()
