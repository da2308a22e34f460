#!/bin/bash
# Session 3, second batch (sequential, 1 thread). Run: bash /work/research_out/queue_s3b.sh
source /work/research_out/env.sh
H=/work/research_out/harness.py
run() { echo "=== $(date) $*"; $PY $H "$@" 2>&1 | grep --line-buffered -v "Warn\|warn"; }
run --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --tag s3_tf_randsub8_scratch
echo "=== done $(date)"
