import os
"""Fit k motion directions on CONTEXTUAL training clips only (label-free) and per-channel floors.
usage: fit_proj.py --kind pca|rand --k K [--log] --out FILE.npz"""
import sys, argparse; sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np, torch; torch.set_num_threads(1)
from pretext import load_contextual
from motion_feats import fit_proj, motion_channels
ap = argparse.ArgumentParser(); ap.add_argument("--kind"); ap.add_argument("--k", type=int)
ap.add_argument("--log", action="store_true"); ap.add_argument("--floor", type=float, default=1.0)
ap.add_argument("--out"); a = ap.parse_args()
G = a.k if a.kind == "randsub" else 0
cfg, dm, tr, va, _ = load_contextual()
P, ev = fit_proj(tr, a.kind, a.k)
rms = []
for c in tr:
    z = motion_channels(c[:256, 0], P, a.log, G)[1:]
    rms.append(np.sqrt(((z - z.mean(0)) ** 2).mean(0)))
floor = a.floor * np.median(np.array(rms), 0)
np.savez(a.out, P=P, groups=G, floor=floor.astype(np.float32), log=a.log, kind=a.kind,
         ev=np.zeros(1) if ev is None else ev)
print("saved", a.out, "floor", np.round(floor, 4).tolist(), "ev", None if ev is None else np.round(ev, 3).tolist())
