#!/bin/bash
# Session 3, third batch. Run: bash /work/research_out/queue_s3c.sh
source /work/research_out/env.sh
echo "=== $(date) pretext energy mask_block 10"
$PY /work/research_out/pretext.py --rep energy --floor 1.0 --mask_block 10 --train --loss_on corrupted --tag s3_energy_blk10_corr 2>&1 | grep --line-buffered "trivial\|ratio\|ep 60"
H=/work/research_out/harness.py
run() { echo "=== $(date) $*"; $PY $H "$@" 2>&1 | grep --line-buffered -v "Warn\|warn"; }
run --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --init_from /work/research_out/s3/enc_randsub8_corr.pt --tag s3_tf_randsub8_pre
echo "=== done $(date)"
