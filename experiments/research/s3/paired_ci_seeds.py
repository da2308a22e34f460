import os
"""Seed-averaged paired difference with a subject-level (class-stratified) bootstrap:
for each resample of subjects, diff = mean over seed pairs of metric(B_s) - metric(A_s).
usage: paired_ci_seeds.py A0,B0 A1,B1 ...   (A = reference, e.g. scratch; B = pre-trained)"""
import sys, json
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))); sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paired_ci import load, metrics

pairs = [a.split(",") for a in sys.argv[1:]]
runs = [(load(a), load(b)) for a, b in pairs]
vids = sorted(runs[0][0]); subj = {v: runs[0][0][v]["subject_id"] for v in vids}
ys = {s: runs[0][0][v]["y"] for v, s in subj.items()}
S = {c: sorted({s for s in ys if ys[s] == c}) for c in (0, 1)}
by_s = {s: [v for v in vids if subj[v] == s] for s in ys}
rng = np.random.default_rng(0)
def diff(pick):
    d = []
    for A, B in runs:
        ma = metrics([A[v] for s in pick for v in by_s[s]]); mb = metrics([B[v] for s in pick for v in by_s[s]])
        d.append(np.subtract(mb, ma))
    return np.mean(d, 0)
point = diff([s for c in (0, 1) for s in S[c]])
boot = np.array([diff([s for c in (0, 1) for s in rng.choice(S[c], len(S[c]), replace=True)]) for _ in range(4000)])
lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
print(f"seed-averaged B - A over {len(pairs)} pairs: dAUROC {point[0]:+.3f} [{lo[0]:+.3f}, {hi[0]:+.3f}]  dBA {point[1]:+.3f} [{lo[1]:+.3f}, {hi[1]:+.3f}]")
