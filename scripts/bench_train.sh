#!/usr/bin/env bash
# Seconds per training iteration of nst-train for the recipes we weigh against each other on this
# machine (the figures behind configs/cpu_overnight.yaml; see docs/training.md).
#
#   scripts/bench_train.sh [ITERATIONS] [THREADS]      (defaults: 8 iterations, all cores)
#
# Each row runs nst-train for ITERATIONS steps on real photos (../shared/data/train, else Debian
# opencv-doc's samples) with a random-weight loss network (speed does not depend on the weights)
# and prints the median s/iteration of the steps after the first two (warm-up). Run it on an
# otherwise idle machine: other processes on the cores distort every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-8}
threads=${2:-0}
bin=${NST_BIN:-build/bin}
[[ -x $bin/nst-train ]] || { echo "bench_train: error: $bin/nst-train not built (run scripts/bootstrap.sh)" >&2; exit 1; }

samples=/usr/share/doc/opencv-doc/examples/data
photos=../shared/data/train
[[ -d $photos ]] || photos=$samples
style=$samples/starry_night.jpg
[[ -f $style ]] || style=$(ls ../shared/data/styles/*.jpg 2>/dev/null | head -1)
[[ -d $photos && -f $style ]] || { echo "bench_train: error: no photos/style (install opencv-doc or provide ../shared/data)" >&2; exit 1; }

# OpenMP threads that spin while waiting collapse when any other process wants a core (measured
# 5-15x slower); passive waiting costs nothing measurable on an idle machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/base.yaml" <<EOF
data: {train_dir: $photos, val_count: 0, loader_threads: 2}
style: {images: [$style], size: 256}
loss_network: {weights: random}
train: {validate_every: 0, log_every: 1, checkpoint_every: 100000, threads: $threads}
EOF

# JSON-style maps: no spaces, so each override stays one word.
vgg_layers='loss.content.layers={"relu2_2":1} loss.style.layers={"relu1_2":1,"relu2_2":1,"relu3_3":1,"relu4_3":1}'
sqz_layers='loss.content.layers={"fire5":1} loss.style.layers={"relu1":1,"fire2":1,"fire3":1,"fire5":1,"fire7":1}'
rows=(
  "vgg16 width32 256px batch4 fp32|loss_network.name=vgg16 model.width=32 data.image_size=256 train.batch_size=4 $vgg_layers"
  "squeezenet width32 256px batch4 fp32|loss_network.name=squeezenet1_1 model.width=32 data.image_size=256 train.batch_size=4 $sqz_layers"
  "squeezenet width16 256px batch4 fp32|loss_network.name=squeezenet1_1 model.width=16 data.image_size=256 train.batch_size=4 $sqz_layers"
  "squeezenet width16 256px batch4 bf16|loss_network.name=squeezenet1_1 model.width=16 data.image_size=256 train.batch_size=4 train.precision=bf16 $sqz_layers"
  "squeezenet width16 192px batch4 fp32|loss_network.name=squeezenet1_1 model.width=16 data.image_size=192 train.batch_size=4 $sqz_layers"
  "squeezenet width16 128px batch4 fp32|loss_network.name=squeezenet1_1 model.width=16 data.image_size=128 train.batch_size=4 $sqz_layers"
)

printf '%-40s %10s\n' "recipe ($iterations iterations, threads=${threads/#0/all})" "s/it"
for row in "${rows[@]}"; do
  label=${row%%|*}
  overrides=${row#*|}
  run="$work/run_$RANDOM"
  # shellcheck disable=SC2086  # overrides are separate words on purpose
  if ! "$bin/nst-train" --config "$work/base.yaml" run_dir="$run" train.iterations="$iterations" $overrides > "$work/out.txt" 2>&1; then
    printf '%-40s %10s\n' "$label" "failed"
    tail -1 "$work/out.txt" >&2
    continue
  fi
  seconds=$(/usr/bin/python3 - "$run/log.jsonl" <<'EOF'
import json, statistics, sys
rates = [json.loads(l) for l in open(sys.argv[1])]
steps = [1 / r["it_per_s"] for r in rates if "total" in r and r.get("it_per_s")][2:]
print(f"{statistics.median(steps):.3f}" if steps else "n/a")
EOF
)
  printf '%-40s %10s\n' "$label" "$seconds"
done
