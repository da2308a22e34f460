import os
"""How predictable is each candidate signal from its neighbours? (contextual clips vs seizure windows)
For each window-standardised channel: R2 of a leave-self-out local mean of +-h neighbours, and lag-1/5/25
autocorrelation. Low R2 => per-frame white noise => no pretext can beat the mean."""
import sys, json
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np, torch
torch.set_num_threads(1)
from pretext import load_contextual
from harness import load_seizure_data, window_starts
from motion_feats import fit_proj, motion_channels

def box_loo(z, h):
    T = len(z); c = np.concatenate([np.zeros((1, z.shape[1])), np.cumsum(z, 0)])
    out = np.zeros_like(z)
    for t in range(T):
        lo, hi = max(0, t - h), min(T, t + h + 1)
        n = hi - lo - 1
        out[t] = (c[hi] - c[lo] - z[t]) / max(n, 1)
    return out

def stats(seqs, name):
    res = {}
    for h in (1, 3, 12):
        num = den = 0.0
        for z in seqs:
            zc = z - z.mean(0)
            rms = np.sqrt((zc ** 2).mean(0)); zc = zc / np.maximum(rms, 1e-8)
            p = box_loo(zc, h); num += ((zc - p) ** 2).sum(); den += (zc ** 2).sum()
        res[f"R2_loo_h{h}"] = round(float(1 - num / den), 3)
    for lag in (1, 5, 25):
        ac = []
        for z in seqs:
            zc = z - z.mean(0); zc = zc / np.maximum(zc.std(0), 1e-8)
            ac.append((zc[lag:] * zc[:-lag]).mean())
        res[f"ac{lag}"] = round(float(np.mean(ac)), 3)
    print(name, json.dumps(res), flush=True)
    return res

cfg, dm, tr, va, _ = load_contextual()
ctx = [c[:, 0] for c in tr]  # crop 0
_, _, vids, feats = load_seizure_data()
sz = []
for v in vids.video_id:
    x = feats[v]
    for st in window_starts(len(x), 256, 128):
        sz.append(x[st:st + 256])
Ppca, ev = fit_proj(tr, "pca", 16)
Prnd, _ = fit_proj(tr, "rand", 16)
print("pca explained var of frame diffs (top16):", np.round(ev, 3).tolist(), "sum", round(float(ev.sum()), 3))
def energy(x): e = np.zeros((len(x), 1)); e[1:, 0] = np.linalg.norm(np.diff(x, axis=0), axis=1); return e
def box(z, k):
    c = np.concatenate([np.zeros((1, z.shape[1])), np.cumsum(np.pad(z, ((k//2, k-1-k//2), (0, 0)), mode="edge"), 0)])
    return (c[k:] - c[:-k]) / k
out = {}
for setname, seqs in (("ctx", ctx), ("seizure", sz)):
    out[setname] = {
        "energy": stats([energy(x)[1:] for x in seqs], f"{setname} energy"),
        "logenergy": stats([np.log(energy(x)[1:] + 1e-3) for x in seqs], f"{setname} logenergy"),
        "energy_env5": stats([box(energy(x)[1:], 5) for x in seqs], f"{setname} energy_env5(target)"),
        "pca4": stats([motion_channels(x, Ppca[:, :4])[1:] for x in seqs], f"{setname} pca4"),
        "pca16": stats([motion_channels(x, Ppca)[1:] for x in seqs], f"{setname} pca16"),
        "rand8": stats([motion_channels(x, Prnd[:, :8])[1:] for x in seqs], f"{setname} rand8"),
        "raw_desc": stats([x for x in seqs], f"{setname} raw descriptor"),
    }
json.dump(out, open(os.environ.get("RESEARCH_OUT", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + "/results/s3_predictability.json", "w"), indent=1)
