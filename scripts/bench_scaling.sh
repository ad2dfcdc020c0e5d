#!/usr/bin/env bash
# Data-parallel nst-train against one process on this machine (docs/scaling.md): iterations per
# second and the share of each step spent in communication, for
#   1 rank x 1 thread, 1 rank x T threads, and R ranks x T/R threads (nst-train --nproc R)
#
#   scripts/bench_scaling.sh [ITERATIONS] [RANKS] [THREADS]    (defaults: 12 iterations, 2 ranks, 2 threads)
#
# The recipe is cpu_overnight's (SqueezeNet loss net, width 16, 256 px, batch 4, fp32) on real
# photos (../shared/data/train, else opencv-doc's samples) with a random-weight loss network. Each
# figure is the median over the steps after the first two (warm-up). Run it on an otherwise idle
# machine, and note `uptime`'s load average with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-12}
ranks=${2:-2}
threads=${3:-2}
bin=${NST_BIN:-build/bin}
[[ -x $bin/nst-train ]] || { echo "bench_scaling: error: $bin/nst-train not built (run scripts/bootstrap.sh)" >&2; exit 1; }
((threads % ranks == 0)) || { echo "bench_scaling: error: THREADS ($threads) must be a multiple of RANKS ($ranks)" >&2; exit 1; }

samples=/usr/share/doc/opencv-doc/examples/data
photos=../shared/data/train
[[ -d $photos ]] || photos=$samples
style=$samples/starry_night.jpg
[[ -f $style ]] || style=$(ls ../shared/data/styles/*.jpg 2>/dev/null | head -1)
[[ -d $photos && -f $style ]] || { echo "bench_scaling: error: no photos/style (install opencv-doc or provide ../shared/data)" >&2; exit 1; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/base.yaml" <<EOF
data: {train_dir: $photos, val_count: 0, loader_threads: 1, image_size: 256}
style: {images: [$style], size: 256}
model: {width: 16}
loss_network: {name: squeezenet1_1, weights: random}
loss:
  content: {layers: {fire5: 1}}
  style: {layers: {relu1: 1, fire2: 1, fire3: 1, fire5: 1, fire7: 1}}
train: {batch_size: 4, validate_every: 0, log_every: 1, checkpoint_every: 100000}
EOF

summarize() {  # log.jsonl -> "it/s communication-share"
  /usr/bin/python3 - "$1" <<'EOF'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l for l in lines if "total" in l and l.get("it_per_s")][2:]
if not steps:
    print("n/a n/a"); sys.exit()
rate = 1 / statistics.median(1 / l["it_per_s"] for l in steps)
shares = [l["communication_share"] for l in steps if "communication_share" in l]
print(f"{rate:.3f} " + (f"{100 * statistics.median(shares):.1f}%" if shares else "-"))
EOF
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %8s %16s\n' "layout ($iterations iterations)" "it/s" "communication"
for layout in "1 1" "1 $threads" "$ranks $((threads / ranks))"; do
  read -r n t <<< "$layout"
  run="$work/run_${n}x$t"
  launch=()
  ((n > 1)) && launch=(--nproc "$n")
  if ! "$bin/nst-train" "${launch[@]}" --config "$work/base.yaml" run_dir="$run" train.iterations="$iterations" \
       train.threads="$t" > "$work/out.txt" 2>&1; then
    printf '%-28s %8s\n' "$n rank(s) x $t thread(s)" "failed"
    tail -2 "$work/out.txt" >&2
    continue
  fi
  read -r rate share <<< "$(summarize "$run/log.jsonl")"
  printf '%-28s %8s %16s\n' "$n rank(s) x $t thread(s)" "$rate" "$share"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
