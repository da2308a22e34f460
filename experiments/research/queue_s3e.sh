#!/bin/bash
# Session 3, fifth batch: k = 4 and 16 subspace energies (pretext + scratch). Run: bash /work/research_out/queue_s3e.sh
source /work/research_out/env.sh
H=/work/research_out/harness.py
while kill -0 $(cat /work/research_out/logs/queue_s3d.pid) 2>/dev/null; do sleep 5; done
for k in 4 16; do
  echo "=== $(date) pretext randsub$k"
  $PY /work/research_out/pretext.py --rep proj --proj /work/research_out/s3/proj_randsub$k.npz --train --loss_on corrupted --tag s3_randsub${k}_corr --export /work/research_out/s3/enc_randsub${k}_corr.pt 2>&1 | grep --line-buffered "trivial mean\|ratio\|ep 60"
done
run() { echo "=== $(date) $*"; $PY $H "$@" 2>&1 | grep --line-buffered -v "Warn\|warn"; }
for k in 4 16; do run --model tf --rep proj --proj /work/research_out/s3/proj_randsub$k.npz --tag s3_tf_randsub${k}_scratch; done
echo "=== done $(date)"
