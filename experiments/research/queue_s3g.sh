#!/bin/bash
# Session 3, seventh batch: training seed 2 for the randsub8 pair. Run: bash /work/research_out/queue_s3g.sh
source /work/research_out/env.sh
H=/work/research_out/harness.py
run() { echo "=== $(date) $*"; $PY $H "$@" 2>&1 | grep --line-buffered -v "Warn\|warn"; }
run --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --seed 2 --tag s3_tf_randsub8_scratch_seed2
run --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --init_from /work/research_out/s3/enc_randsub8_corr.pt --seed 2 --tag s3_tf_randsub8_pre_seed2
echo "=== done $(date)"
