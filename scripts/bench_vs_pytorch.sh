#!/usr/bin/env bash
# nst-infer with no precision flag (auto) against plain PyTorch eager fp32 (pytorch/examples'
# TransformerNet in Debian's python3-torch), both on all cores, end to end over the same folder of
# 512x512 JPEGs: decode, stylize, encode. One random-weight pytorch/examples checkpoint, imported for
# nst. Figures: docs/inference.md.
#   scripts/bench_vs_pytorch.sh            COUNT (default 6), SIDE (default 512), ROUNDS (default 3: best of)
# Run it on an idle machine: two OpenMP jobs sharing the cores distort both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
count=${COUNT:-6} side=${SIDE:-512} rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=PASSIVE
echo "## Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores," \
     "$(grep -o -m1 'avx512_bf16' /proc/cpuinfo || echo 'no avx512_bf16'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 tests/python/transformer_reference.py make-checkpoint "$work/net.pth"
/usr/bin/python3 scripts/import_pytorch_model.py "$work/net.pth" "$work/net.safetensors" >/dev/null
source_args=()
[[ -d ../shared/data/eval ]] && source_args=(--source ../shared/data/eval)
"$build/bin/nst-bench-infer" --make-images "$work/images" --count "$count" --side "$side" "${source_args[@]}" 2>/dev/null
# First nst-infer run: precision auto may time both precisions once (cached afterwards, as for a user).
"$build/bin/nst-infer" --model "$work/net.safetensors" --input "$work/images" --output "$work/warm" 2>&1 | grep "auto" || true
best_nst=1e9 best_torch=1e9
for ((round = 0; round < rounds; round++)); do
  rm -rf "$work/nst" "$work/torch"
  start=$(date +%s.%N)
  "$build/bin/nst-infer" --model "$work/net.safetensors" --input "$work/images" --output "$work/nst" --quality 90 2>/dev/null
  end=$(date +%s.%N)
  best_nst=$(awk -v b="$best_nst" -v s="$start" -v e="$end" 'BEGIN {t = e - s; print (t < b ? t : b)}')
  torch_seconds=$(/usr/bin/python3 scripts/pytorch_eager_stylize.py "$work/net.pth" "$work/images" "$work/torch" | awk '{print $4}')
  best_torch=$(awk -v b="$best_torch" -v t="$torch_seconds" 'BEGIN {print (t < b ? t : b)}')
done
awk -v n="$count" -v s="$side" -v a="$best_nst" -v b="$best_torch" 'BEGIN {
  printf "| %d JPEGs of %dx%d, end to end | nst-infer (auto, whole process) %.2f s | PyTorch eager fp32 (loop only) %.2f s | %.2fx |\n",
         n, s, s, a, b, b / a }'
