#!/bin/bash
# Session 3, sixth batch: a second pretext seed for the randsub8 encoder, fine-tuned with seed 0. Run: bash /work/research_out/queue_s3f.sh
source /work/research_out/env.sh
while kill -0 $(cat /work/research_out/logs/queue_s3e.pid) 2>/dev/null; do sleep 5; done
echo "=== $(date) pretext randsub8 seed 1"
$PY /work/research_out/pretext.py --rep proj --proj /work/research_out/s3/proj_randsub8.npz --train --loss_on corrupted --seed 1 --tag s3_randsub8_corr_pseed1 --export /work/research_out/s3/enc_randsub8_corr_pseed1.pt 2>&1 | grep --line-buffered "trivial mean\|ratio\|ep 60"
echo "=== $(date) harness"
$PY /work/research_out/harness.py --model tf --rep proj --proj /work/research_out/s3/proj_randsub8.npz --init_from /work/research_out/s3/enc_randsub8_corr_pseed1.pt --tag s3_tf_randsub8_pre_pseed1 2>&1 | grep --line-buffered -v "Warn\|warn"
echo "=== done $(date)"
