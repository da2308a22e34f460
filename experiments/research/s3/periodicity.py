import os
import sys; sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np, torch; torch.set_num_threads(1)
from pretext import load_contextual
cfg, dm, tr, va, _ = load_contextual()
print("ctx fps/len sample:", [(r.clip_id, getattr(r,'fps',None)) for r in dm.train_records[:3]])
print(dm.train_records[0])
def en(x): return np.linalg.norm(np.diff(x, axis=0), axis=1)
acs = []
for c in tr:
    e = en(c[:, 0]); e = (e - e.mean()) / e.std()
    acs.append([float((e[l:] * e[:-l]).mean()) for l in range(1, 13)])
acs = np.array(acs)
print("ctx energy autocorr lags 1..12 (mean over clips):", np.round(acs.mean(0), 3).tolist())
e = en(tr[0][:, 0]); print("clip0 energy first 40:", np.round(e[:40] / np.median(e), 2).tolist())
