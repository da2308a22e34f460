#!/bin/bash
# Session 3 harness runs (sequential, 1 thread). Run: bash /work/research_out/queue_s3.sh
source /work/research_out/env.sh
H=/work/research_out/harness.py
E=/work/research_out/enc_energy_f1_corr.pt
run() { echo "=== $(date) $*"; $PY $H "$@" 2>&1 | grep -v "Warn\|warn"; }
run --model tf --rep proj --proj /work/research_out/s3/proj_pca8.npz --tag s3_tf_pca8_scratch
run --model tf --rep energyfloor --floor_abs 0.04046 --init_from $E --freeze --lr 5e-3 --tag s3_tf_energy_pre_frozen
run --model tf --rep energyfloor --floor_abs 0.04046 --init_from $E --enc_lr_mult 0.1 --tag s3_tf_energy_pre_enclr01
run --model tf --rep energyfloor --floor_abs 0.04046 --init_from $E --early_stop --tag s3_tf_energy_pre_es
run --model tf --rep energyfloor --floor_abs 0.04046 --early_stop --tag s3_tf_energy_scratch_es
run --model tf --rep energyfloor --floor_abs 0.04046 --freeze --lr 5e-3 --tag s3_tf_energy_randfrozen
echo "=== done $(date)"
