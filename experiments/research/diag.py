from pathlib import Path
"""Per-fold diagnostics table of harness results: python diag.py TAG [TAG ...]"""
import json, sys
import numpy as np
for tag in sys.argv[1:]:
    r = json.load(open(Path(__file__).resolve().parent / "results" / f"{tag}.json"))
    f = r["folds"]
    print(f"== {tag}: AUROC {r['auroc']:.3f} cal {r['auroc_cal']:.3f} BA_valthr {r['bal_acc_valthr']:.3f}")
    print("fold y  fracPNESsubj  p_trES  p_trPNES  p_val  thr    p_test  probe")
    for d in f:
        print(f"{d['fold']:4s} {d['label']}  {d['frac_pnes_train_subjects']:.2f}         {d['p_train_es']:.3f}   {d['p_train_pnes']:.3f}    {d['p_val']:.3f}  {d['thr']:.3f}  {d['p_test']:.3f}   {d.get('probe_acc', float('nan')):.2f}")
    for c in (0, 1):
        sel = [d for d in f if d['label'] == c]
        print(f"  held-out {'PNES' if c else 'ES'} folds: mean p_test {np.mean([d['p_test'] for d in sel]):.3f}, "
              f"mean p_val {np.mean([d['p_val'] for d in sel]):.3f}, frac PNES train subj {np.mean([d['frac_pnes_train_subjects'] for d in sel]):.2f}")
