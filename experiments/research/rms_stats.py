"""Window RMS statistics of the seizure windows (raw and diff), per subject and class."""
import sys; from pathlib import Path; sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from harness import load_seizure_data, build_windows
cfg, dm, vids, feats = load_seizure_data()
for rep in ("window", "diff"):
    X, M, meta, rms = build_windows(vids, feats, rep)
    subj = vids.subject_id.values[meta[:, 0]]; lab = vids.label.values[meta[:, 0]]
    med = np.median(rms)
    print(f"{rep}: windows={len(rms)} median RMS={med:.4f} min={rms.min():.4f} max={rms.max():.4f} "
          f"p10={np.percentile(rms,10):.4f} p90={np.percentile(rms,90):.4f}")
    for c in ("ES", "PNES"):
        print(f"  {c}: median RMS {np.median(rms[lab==c]):.4f}")
    print("  per subject median:", {s: round(float(np.median(rms[subj==s])/med), 2) for s in np.unique(subj)})
