import os
"""Subject-level (cluster) bootstrap, stratified by class: AUROC and BA (val threshold) 95% CI per run
and the paired difference B - A (same resampled subjects). usage: paired_ci.py TAG_A TAG_B [...]
(first tag = A, each further tag compared with A as B; 4000 resamples, seed 0)."""
import sys, json
import numpy as np
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import auroc, bal_acc

def load(tag):
    r = json.load(open(fos.environ.get("RESEARCH_OUT", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + "/results/{tag}.json"))
    return {v["video_id"]: v for v in r["videos"]}

def metrics(rows):
    y = np.array([r["y"] for r in rows]); p = np.array([r["p"] for r in rows]); t = np.array([r["thr"] for r in rows])
    return auroc(y, p), bal_acc(y, (p > t).astype(int))

def boot(tags, n=4000, seed=0):
    runs = [load(t) for t in tags]
    vids = sorted(runs[0])
    subj = {v: runs[0][v]["subject_id"] for v in vids}
    ys = {s: runs[0][v]["y"] for v, s in subj.items()}
    S = {c: sorted({s for s in ys if ys[s] == c}) for c in (0, 1)}
    by_s = {s: [v for v in vids if subj[v] == s] for s in ys}
    rng = np.random.default_rng(seed)
    out = np.zeros((n, len(tags), 2))
    for b in range(n):
        pick = [s for c in (0, 1) for s in rng.choice(S[c], len(S[c]), replace=True)]
        for j, run in enumerate(runs):
            out[b, j] = metrics([run[v] for s in pick for v in by_s[s]])
    point = np.array([metrics([run[v] for v in vids]) for run in runs])
    return point, out

if __name__ == "__main__":
    tags = sys.argv[1:]
    point, out = boot(tags)
    ci = lambda a: np.percentile(a, [2.5, 97.5])
    res = {}
    for j, t in enumerate(tags):
        a, b = ci(out[:, j, 0]), ci(out[:, j, 1])
        res[t] = dict(auroc=point[j, 0], auroc_ci=a.tolist(), ba=point[j, 1], ba_ci=b.tolist())
        line = f"{t}: AUROC {point[j,0]:.3f} [{a[0]:.3f}, {a[1]:.3f}]  BA {point[j,1]:.3f} [{b[0]:.3f}, {b[1]:.3f}]"
        if j > 0:
            d = out[:, j, :] - out[:, 0, :]
            da, db = ci(d[:, 0]), ci(d[:, 1])
            res[t]["diff_vs_" + tags[0]] = dict(auroc=point[j, 0] - point[0, 0], auroc_ci=da.tolist(),
                                                ba=point[j, 1] - point[0, 1], ba_ci=db.tolist())
            line += (f"  | this minus {tags[0]}: dAUROC {point[j,0]-point[0,0]:+.3f} [{da[0]:+.3f}, {da[1]:+.3f}]"
                     f" dBA {point[j,1]-point[0,1]:+.3f} [{db[0]:+.3f}, {db[1]:+.3f}]")
        print(line)
    json.dump(res, open(fos.environ.get("RESEARCH_OUT", os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + "/results/ci_{tags[0]}__vs.json", "w"), indent=1)
