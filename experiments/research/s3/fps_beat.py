import os
"""Energy autocorrelation of contextual clips by source frame rate (resampled to 25 fps by the framework)."""
import sys; sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np, torch, av; torch.set_num_threads(1)
from pretext import load_contextual
cfg, dm, tr, va, _ = load_contextual()
fps = {}
for r in dm.train_records:
    if r.path not in fps:
        with av.open(str(r.path)) as v: fps[r.path] = str(v.streams.video[0].average_rate)
by = {}
for r, c in zip(dm.train_records, tr):
    e = np.linalg.norm(np.diff(c[:, 0], axis=0), axis=1); e = (e - e.mean()) / e.std()
    by.setdefault(fps[r.path], []).append([float((e[l:] * e[:-l]).mean()) for l in range(1, 11)])
for k, v in sorted(by.items()):
    print(f"source fps {k}: {len(v)} clips, energy autocorr lags 1..10:", np.round(np.mean(v, 0), 2).tolist())
