#!/usr/bin/env bash
# The GPU check (issue 18): on one GPU, in under 8 minutes, prints
#   - descriptor extraction frames/s, ResNet-152 @ 112x112, bf16 (FrameEncoder, production path)
#   - the model=paper pre-training step: clips/s in bf16 and its share of the GPU's bf16 peak
#   - loader processes needed to feed that step from the fp16 descriptor cache
#   - the projected wall time of the paper's whole pipeline at the measured rates
# Usage:  bash experiments/benchmarks/gpu_check.sh [--dry-run] [--out DIR]
#   --dry-run  the same scripts on the CPU at tiny sizes (checks that everything composes; the
#              figures mean nothing). Never part of `make test` on a GPU; tests run the dry run.
# Output: DIR/{extract,pretrain_step,loader}.json, DIR/gpu_check.json, the table on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
DRY=0
OUT="$HERE/results/gpu_check"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
export WANDB_MODE=offline WANDB_SILENT=true
if [ "$DRY" = 1 ]; then
  DEV=cpu
  EXTRACT=(--frames 4 --batch-size 4 --repeats 1 --configs fp32_channels_last)
  STEP=(--batch 1 --iters 1 --warmup 0 --backbone-frames 8 --seq-len 64)
  LOADER=(--epochs 1 --loader-batches 2 --loader-batch 4)
else
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check.sh: no CUDA device visible to torch (use --dry-run on a CPU)" >&2
    exit 3
  fi
  DEV=cuda
  EXTRACT=(--frames 1024 --batch-size 256 --repeats 3 --configs bf16_channels_last)
  STEP=(--bf16 --batch 32 --iters 10 --warmup 3)
  LOADER=(--epochs 2 --loader-batches 8 --loader-batch 16)
fi
t0=$SECONDS
echo "[gpu_check] extraction ($DEV)"
"$PY" "$HERE/bench_extract.py" --device "$DEV" "${EXTRACT[@]}" --out "$OUT/extract.json" > "$OUT/extract.log" 2>&1
echo "[gpu_check] model=paper pre-training step ($DEV)"
"$PY" "$HERE/bench_pretrain_step.py" --device "$DEV" "${STEP[@]}" --out "$OUT/pretrain_step.json" > "$OUT/pretrain_step.log" 2>&1
echo "[gpu_check] cache loader (CPU side)"
"$PY" "$HERE/bench_loader.py" "${LOADER[@]}" --out "$OUT/loader.json" > "$OUT/loader.log" 2>&1
"$PY" "$HERE/gpu_check_summary.py" "$OUT" --wall-s $((SECONDS - t0)) $([ "$DRY" = 1 ] && echo --dry-run)
