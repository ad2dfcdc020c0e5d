#!/usr/bin/env bash
# Inference benchmark (docs/inference.md): median stylization time per image at 256^2, 512^2,
# 1024^2 and 1920x1080 for fp32, bf16 (weights) and bf16 autocast, the bf16 output error against
# fp32 (max / mean abs on 0..255), and folder throughput end to end (decode + stylize + encode of
# 100 512px JPEGs) against stylize alone.
#   scripts/bench_infer.sh [MODEL]      (default: the default net with random weights)
# Environment: BUILD_DIR (default build), THREADS (default 0 = all cores), REPEATS (default 5),
# PRECISIONS (default fp32,bf16,bf16-autocast), SIZES, COUNT (default 100), CPU_TIME=1 (per-image
# process CPU time instead of wall time: with THREADS=1 a figure that other load barely changes),
# PEAK=1 (also the share of the convolution peak per size and precision: nst-bench-infer --peak).
# Other processes competing for the CPU distort the wall-time figures (2 OpenMP threads spin-wait
# for each other): run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
threads=${THREADS:-0}
model=${1:-}
if [[ ! -x "$build/bin/nst-infer" || ! -x "$build/bin/nst-bench-infer" ]]; then
  cmake -S . -B "$build" -G Ninja >/dev/null
  ninja -C "$build" nst-infer nst-bench-infer
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "## Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores," \
     "$(grep -o -m1 'avx512_bf16' /proc/cpuinfo || echo 'no avx512_bf16'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Time per image (stylization only: pad, forward, crop)"
"$build/bin/nst-bench-infer" ${model:+--model "$model"} --threads "$threads" --repeats "${REPEATS:-5}" \
  ${CPU_TIME:+--cpu-time} --precisions "${PRECISIONS:-fp32,bf16,bf16-autocast}" ${PEAK:+--peak} \
  --sizes "${SIZES:-256x256,512x512,1024x1024,1920x1080}" | tee "$work/table.md"

if [[ -z "$model" ]]; then
  model="$work/random.safetensors"
  "$build/bin/nst-bench-infer" --save-model "$model"
fi
count=${COUNT:-100}
source_args=()
[[ -d ../shared/data/train ]] && source_args=(--source ../shared/data/train)
"$build/bin/nst-bench-infer" --make-images "$work/images" --count "$count" --side 512 "${source_args[@]}" 2>/dev/null
echo
echo "## Folder of $count 512x512 JPEGs, end to end (decode + stylize + encode, overlapped) vs stylize alone"
echo "| precision | end to end img/s | stylize alone img/s | end to end / alone |"
echo "|---|---|---|---|"
for precision in fp32 bf16; do
  "$build/bin/nst-bench-infer" ${model:+--model "$model"} --threads "$threads" --repeats "${REPEATS:-5}" \
    --precisions "$precision" --sizes 512x512 >"$work/alone.md"
  alone=$(tail -1 "$work/alone.md" | awk -F'|' '{print 1 / $3}')
  rm -rf "$work/out"
  start=$(date +%s.%N)
  "$build/bin/nst-infer" --model "$model" --input "$work/images" --output "$work/out" --threads "$threads" \
    --precision "$precision" --quality 90 2>"$work/log.txt" || { cat "$work/log.txt"; exit 1; }
  end=$(date +%s.%N)
  # The tool's own rate (model loading excluded) and the wall-clock one (included).
  rate=$(grep -o '([0-9.]* images/s)' "$work/log.txt" | tr -d '(' | cut -d' ' -f1)
  wall=$(awk -v n="$count" -v s="$start" -v e="$end" 'BEGIN {print n / (e - s)}')
  awk -v p="$precision" -v r="$rate" -v w="$wall" -v a="$alone" \
    'BEGIN {printf "| %s | %.2f (%.2f with model loading) | %.2f | %.0f%% |\n", p, r, w, a, 100 * r / a}'
done
