"""Pre-training pretext analysis (plain PyTorch) with the project's corruption code.

Contextual clips from the project's ContextualClipDataModule (cache with n_crops=4; training
draws one crop per sample per epoch, validation uses crop 0). Corruption: data.corruption
(batch_corruption_plan / apply_corruption; span 30 relocated, 15 % masked), validation plans from
VAL_STREAM with epoch 0 (as DenoisingPretrainModule does).

Representations (--rep):
  fw_window  the framework's input_norm=window: r(MASK) inserted into the RAW descriptors, then
             the window is standardised by the mean/RMS of its real (unmasked) frames; target =
             original standardised by the same statistics (modules/pretrain.py).
  window     per-window centring + RMS (with --floor x median window RMS) of the ORIGINAL clip,
             corruption applied in that space with a zero mask token.
  diff       x_t - x_(t-1), then the same per-window centring + RMS floor, zero mask token.
  raw        descriptors as they are, r(MASK) from the cache (the paper).

Trivial predictors on validation batches (squared L2 summed over channels, mean over
positions of each kind): copy the corrupted input; copy with masked positions linearly
interpolated from their nearest unmasked neighbours; the mean training target.
Then trains a SequenceEncoder (d_model 64, 2 layers) + linear head with loss_on all|corrupted
and reports the same per-kind losses; --export writes an encoder for harness.py --init_from.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from harness import ROOT, RES, compose  # noqa: E402

torch.set_num_threads(1)
PROJ = {}  # --proj file (session 3): P [D, k], floor [k], log


def load_contextual(synth="demo", synth_seed=0, val_fraction=0.1):
    from hydra.utils import instantiate

    cfg = compose(["+experiment=pretrain", f"synth={synth}", f"synth.seed={synth_seed}",
                   f"paths.root_dir={ROOT}", "logger=none", f"data.val_fraction={val_fraction}"])
    dm = instantiate(cfg.data, _convert_="all")
    dm.setup()

    def arr(recs):
        out = []
        for r in recs:
            f = np.asarray(dm.cache.features(r.clip_id), dtype=np.float32)  # [T, crops, D]
            out.append(f)
        return out

    mask_desc = np.asarray(dm.cache.mask_descriptor, np.float32)
    return cfg, dm, arr(dm.train_records), arr(dm.val_records), mask_desc


def stack(clips, crops, L=256):
    D = clips[0].shape[-1]
    X = np.zeros((len(clips), L, D), np.float32)
    M = np.zeros((len(clips), L), bool)
    for i, (c, k) in enumerate(zip(clips, crops)):
        t = min(len(c), L)
        X[i, :t] = c[:t, k]
        M[i, :t] = True
    return torch.from_numpy(X), torch.from_numpy(M)


def wstats(x, m):
    v = m.unsqueeze(-1).float()
    n = v.sum(1, keepdim=True).clamp(min=1)
    mean = (x * v).sum(1, keepdim=True) / n
    rms = ((((x - mean) * v) ** 2).sum((1, 2), keepdim=True) / (n * x.shape[-1])).sqrt()
    return mean, rms


def represent(x, m, rep, floor):
    """Original clip -> representation (before corruption) for window/diff reps."""
    if rep == "diff":
        d = torch.zeros_like(x)
        d[:, 1:] = (x[:, 1:] - x[:, :-1]) * (m[:, 1:] & m[:, :-1]).unsqueeze(-1)
        x = d
    if rep == "energy":
        e = torch.zeros(x.shape[0], x.shape[1], 1)
        e[:, 1:, 0] = (x[:, 1:] - x[:, :-1]).norm(dim=-1) * (m[:, 1:] & m[:, :-1])
        x = e
    if rep in ("logenergy", "logenergy_raw"):
        e = torch.zeros(x.shape[0], x.shape[1], 1)
        e[:, 1:, 0] = torch.log((x[:, 1:] - x[:, :-1]).norm(dim=-1) + 1e-3)
        e[:, 0] = e[:, 1]
        x = e * m.unsqueeze(-1)
    if rep == "proj":
        # k-channel |(x_t - x_(t-1)) @ P|, per-window per-channel standardisation, floor per channel
        G = PROJ["groups"]
        z = torch.zeros(x.shape[0], x.shape[1], G if G else PROJ["P"].shape[1])
        d = (x[:, 1:] - x[:, :-1]) @ PROJ["P"]
        z[:, 1:] = d.reshape(*d.shape[:2], G, -1).pow(2).sum(-1).sqrt() if G else d.abs()
        if PROJ["log"]:
            z[:, 1:] = torch.log(z[:, 1:] + 1e-3)
            z[:, 0] = z[:, 1]
        v = m.unsqueeze(-1).float()
        n = v.sum(1, keepdim=True).clamp(min=1)
        mean = (z * v).sum(1, keepdim=True) / n
        rms = ((((z - mean) * v) ** 2).sum(1, keepdim=True) / n).sqrt()
        return (z - mean) / torch.maximum(rms, PROJ["floor"]) * v
    if rep in ("window", "diff", "energy", "logenergy"):
        mean, rms = wstats(x, m)
        x = (x - mean) / torch.clamp(rms, min=floor)
        x = x * m.unsqueeze(-1)
    return x


def corrupt_batch(x, m, idx, rep, floor, mask_desc, epoch, stream, opts):
    """(input, target, masked, moved) for one batch."""
    from seizure_lightning.data.corruption import apply_corruption, batch_corruption_plan

    order, masked = batch_corruption_plan(m, idx, base_seed=0, epoch=epoch, stream=stream,
                                          span=opts["span"], mask_ratio=opts["mask_ratio"])
    if opts.get("mask_block", 1) > 1:
        # session 3: contiguous masked blocks of L positions covering ~mask_ratio of valid frames
        L = opts["mask_block"]
        g = torch.Generator().manual_seed(int(epoch) * 100003 + int(stream) * 7919 + int(idx[0]))
        masked = torch.zeros_like(masked)
        for b in range(m.shape[0]):
            vl = int(m[b].sum())
            nb = max(1, round(opts["mask_ratio"] * vl / L))
            st = torch.randint(0, max(1, vl - L + 1), (nb,), generator=g)
            for s0 in st.tolist():
                masked[b, s0:s0 + L] = True
    if opts.get("no_permute"):
        order = torch.arange(order.shape[1]).expand_as(order).clone()
    ar = torch.arange(order.shape[1])
    moved = (order != ar) & ~masked & m
    masked = masked & m
    if rep == "fw_window":
        from seizure_lightning.models.input_norm import standardize, window_statistics

        inp_raw = apply_corruption(x, order, masked, torch.from_numpy(mask_desc))
        real = m & ~masked
        mean, rms = window_statistics(inp_raw, real)
        inp = standardize(inp_raw, m, mean, rms)
        tgt = standardize(x, m, mean, rms)
    elif rep == "raw":
        inp = apply_corruption(x, order, masked, torch.from_numpy(mask_desc))
        tgt = x
    else:
        z = represent(x, m, rep, floor)
        inp = apply_corruption(z.contiguous(), order, masked, torch.zeros(z.shape[-1]))
        tgt = z
    return inp, tgt, masked, moved


def interp_fill(inp, masked, m):
    """Masked positions filled by linear interpolation of the nearest unmasked (valid) ones."""
    out = inp.clone()
    for b in range(inp.shape[0]):
        valid = torch.nonzero(m[b]).flatten()
        real = valid[~masked[b, valid]]
        hole = valid[masked[b, valid]]
        if len(hole) == 0 or len(real) == 0:
            continue
        r = real.numpy()
        for h in hole.numpy():
            j = np.searchsorted(r, h)
            if j == 0:
                out[b, h] = inp[b, r[0]]
            elif j == len(r):
                out[b, h] = inp[b, r[-1]]
            else:
                lo, hi = r[j - 1], r[j]
                a = (h - lo) / (hi - lo)
                out[b, h] = (1 - a) * inp[b, lo] + a * inp[b, hi]
    return out


def box(x, m, k):
    """Moving average over k frames of the valid frames (edge-normalised), zeros at pads."""
    if k <= 1:
        return x
    v = m.unsqueeze(-1).float()
    B, L, D = x.shape
    w = torch.ones(1, 1, k) / k
    num = torch.nn.functional.conv1d((x * v).permute(0, 2, 1).reshape(B * D, 1, L), w,
                                     padding=k // 2).reshape(B, D, -1)[:, :, :L].permute(0, 2, 1)
    den = torch.nn.functional.conv1d(v.permute(0, 2, 1), w, padding=k // 2)[:, :, :L].permute(0, 2, 1)
    return num / den.clamp(min=1e-6) * v


def kind_losses(pred, tgt, masked, moved, m):
    err = (pred - tgt).pow(2).sum(-1)
    untouched = m & ~masked & ~moved
    corrupted = (masked | moved) & m
    f = lambda s: float((err * s).sum() / s.sum().clamp(min=1))
    return {"masked": f(masked), "moved": f(moved), "untouched": f(untouched),
            "corrupted": f(corrupted), "all": f(m)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rep", default="window", choices=["fw_window", "window", "diff", "raw", "energy", "logenergy", "proj"])
    ap.add_argument("--proj", default=None, help="npz from s3/fit_proj.py (rep proj)")
    ap.add_argument("--mask_block", type=int, default=1, help="masked blocks of this length")
    ap.add_argument("--span", type=int, default=30, help="relocated span length (0: none)")
    ap.add_argument("--floor", type=float, default=1.0, help="x median window RMS (train clips)")
    ap.add_argument("--smooth", type=int, default=1, help="target = k-frame moving average")
    ap.add_argument("--loss_on", default="all", choices=["all", "corrupted"])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--d_model", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val_fraction", type=float, default=0.1)
    ap.add_argument("--export", default=None)
    ap.add_argument("--train", action="store_true", help="train a model (else trivial only)")
    ap.add_argument("--tag", required=True)
    args = ap.parse_args(argv)
    t0 = time.time()
    opts = {"span": args.span, "mask_ratio": 0.15, "mask_block": args.mask_block}
    if args.rep == "proj":
        f = np.load(args.proj)
        PROJ.update(P=torch.from_numpy(f["P"]), floor=torch.from_numpy(f["floor"]), log=bool(f["log"]),
                    groups=int(f["groups"]) if "groups" in f else 0)
    cfg, dm, tr, va, mask_desc = load_contextual(val_fraction=args.val_fraction)
    D = tr[0].shape[-1]
    # floor from the training clips (crop 0), in the representation before flooring
    floor = 1e-6
    if args.rep in ("window", "diff", "energy", "logenergy"):
        x0, m0 = stack(tr, [0] * len(tr))
        z = x0
        if args.rep == "logenergy":
            z = represent(x0, m0, "logenergy_raw", None)
        if args.rep == "energy":
            z = torch.zeros(x0.shape[0], x0.shape[1], 1)
            z[:, 1:, 0] = (x0[:, 1:] - x0[:, :-1]).norm(dim=-1) * (m0[:, 1:] & m0[:, :-1])
        if args.rep == "diff":
            z = torch.zeros_like(x0)
            z[:, 1:] = (x0[:, 1:] - x0[:, :-1]) * (m0[:, 1:] & m0[:, :-1]).unsqueeze(-1)
        _, r = wstats(z, m0)
        floor = args.floor * float(r.flatten().median())
    xv, mv = stack(va, [0] * len(va))
    iv = torch.arange(len(va))
    res = {"args": vars(args), "n_train_clips": len(tr), "n_val_clips": len(va), "floor": floor}
    # mean target over training clips (crop 0)
    xt0, mt0 = stack(tr, [0] * len(tr))
    _, tgt_tr, _, _ = corrupt_batch(xt0, mt0, torch.arange(len(tr)), args.rep, floor, mask_desc,
                                    0, 0, opts)
    mean_t = (tgt_tr * mt0.unsqueeze(-1)).sum((0, 1)) / mt0.sum()
    inp, tgt, masked, moved = corrupt_batch(xv, mv, iv, args.rep, floor, mask_desc, 0, 1, opts)
    tgt = box(tgt, mv, args.smooth)
    mean_t = box(tgt_tr, mt0, args.smooth).mul(mt0.unsqueeze(-1)).sum((0, 1)) / mt0.sum()
    # r(MASK) scale after standardisation vs real frames
    nrm = inp.norm(dim=-1)
    res["mask_rms_ratio"] = float(nrm[masked].mean() / nrm[mv & ~masked].mean())
    triv = {
        "copy": kind_losses(inp, tgt, masked, moved, mv),
        "copy_interp": kind_losses(interp_fill(inp, masked, mv), tgt, masked, moved, mv),
        "mean": kind_losses(mean_t.expand_as(tgt), tgt, masked, moved, mv),
    }
    if args.smooth > 1:
        triv["smooth_copy_interp"] = kind_losses(box(interp_fill(inp, masked, mv), mv, args.smooth),
                                                 tgt, masked, moved, mv)
    # session 3: stronger label-free baselines -- local mean of the (interpolated) corrupted input
    filled = interp_fill(inp, masked, mv)
    for W in (9, 25, 51):
        triv[f"local_mean_{W}"] = kind_losses(box(filled, mv, W), tgt, masked, moved, mv)
    res["trivial_val"] = triv
    # best trivial on corrupted positions (a single predictor) and the per-kind oracle mix
    res["best_trivial_corrupted"] = min(v["corrupted"] for v in triv.values())
    print(json.dumps({"mask_rms_ratio": res["mask_rms_ratio"], "floor": floor}), flush=True)
    for k, v in triv.items():
        print(f"trivial {k:12s} " + " ".join(f"{a}={b:.2f}" for a, b in v.items()), flush=True)
    if args.train:
        from seizure_lightning.models.sequence_encoder import SequenceEncoder

        torch.manual_seed(args.seed)
        D = tgt.shape[-1]
        ecfg = dict(input_dim=D, d_model=args.d_model, num_layers=args.layers, num_heads=4,
                    ffn_dim=2 * args.d_model, max_positions=256, input_norm="none")
        enc = SequenceEncoder(ecfg)
        head = nn.Linear(args.d_model, D)
        params = list(enc.parameters()) + list(head.parameters())
        params = [p for p in params if p.requires_grad]
        opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2]},
                                 {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
                                lr=args.lr, weight_decay=1e-4)
        spe = math.ceil(len(tr) / args.batch)
        total = spe * args.epochs
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / total))
        rng = np.random.default_rng(args.seed)
        hist = []
        for ep in range(args.epochs):
            enc.train(), head.train()
            order = rng.permutation(len(tr))
            for b in range(spe):
                sel = order[b * args.batch:(b + 1) * args.batch]
                crops = rng.integers(0, tr[0].shape[1], size=len(sel))
                x, m = stack([tr[i] for i in sel], crops)
                i_t = torch.as_tensor(sel)
                inp_b, tgt_b, mk, mvd = corrupt_batch(x, m, i_t, args.rep, floor, mask_desc, ep, 0,
                                                      opts)
                tgt_b = box(tgt_b, m, args.smooth)
                pred = head(enc(inp_b, m))
                err = (pred - tgt_b).pow(2).sum(-1)
                sel_pos = m if args.loss_on == "all" else ((mk | mvd) & m)
                loss = (err * sel_pos).sum() / sel_pos.sum().clamp(min=1)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if ep % 10 == 9 or ep == args.epochs - 1:
                enc.eval(), head.eval()
                with torch.no_grad():
                    kl = kind_losses(head(enc(inp, mv)), tgt, masked, moved, mv)
                hist.append({"epoch": ep + 1, **kl})
                print(f"ep {ep+1} train_loss={float(loss):.2f} val " +
                      " ".join(f"{a}={b:.2f}" for a, b in kl.items()), flush=True)
        res["model_val"] = hist[-1]
        res["history"] = hist
        res["ratio_corrupted_vs_best_trivial"] = hist[-1]["corrupted"] / res["best_trivial_corrupted"]
        res["ratio_masked_vs_best_trivial"] = hist[-1]["masked"] / min(
            v["masked"] for v in triv.values())
        res["ratio_moved_vs_best_trivial"] = hist[-1]["moved"] / min(
            v["moved"] for v in triv.values())
        print(f"ratio corrupted/best trivial = {res['ratio_corrupted_vs_best_trivial']:.3f}; masked "
              f"{res['ratio_masked_vs_best_trivial']:.3f}; moved {res['ratio_moved_vs_best_trivial']:.3f}")
        if args.export:
            torch.save({"config": ecfg, "state_dict": enc.state_dict(), "rep": args.rep, "proj": args.proj,
                        "floor_mult": args.floor, "floor_abs": floor}, args.export)
    res["time_s"] = time.time() - t0
    RES.mkdir(parents=True, exist_ok=True)
    (RES / f"pretext_{args.tag}.json").write_text(json.dumps(res, indent=1))
    with open(RES / "pretext_summary.tsv", "a") as fh:
        fh.write(" ".join(sys.argv[1:]) + "\n  " + json.dumps(
            {k: res.get(k) for k in ("mask_rms_ratio", "best_trivial_corrupted", "model_val",
                                     "ratio_corrupted_vs_best_trivial", "ratio_masked_vs_best_trivial",
                                     "ratio_moved_vs_best_trivial", "time_s")}) + "\n")


if __name__ == "__main__":
    main()
