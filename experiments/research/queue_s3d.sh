#!/bin/bash
# Session 3, fourth batch: training seed 1 for the randsub8 pair. Run: bash /work/research_out/queue_s3d.sh
source /work/research_out/env.sh
H=/work/research_out/harness.py
run() { echo "=== $(date) $*"; $PY $H "$@" 2>&1 | grep --line-buffered -v "Warn\|warn"; }
run --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --seed 1 --tag s3_tf_randsub8_scratch_seed1
run --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --init_from /work/research_out/s3/enc_randsub8_corr.pt --seed 1 --tag s3_tf_randsub8_pre_seed1
echo "=== done $(date)"
