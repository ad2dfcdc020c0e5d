#!/usr/bin/env bash
# Seconds per training iteration of nst-train for the recipes we weigh against each other on this
# machine (the figures behind configs/cpu_overnight.yaml; see docs/training.md).
#
#   scripts/bench_train.sh [ITERATIONS] [THREADS]      (defaults: 8 iterations, all cores)
#   ROWS=cpu_overnight scripts/bench_train.sh 12       (only the rows whose label contains ROWS)
#   RECIPE=old.yaml NST_BIN=/tmp/old/bin ...           (the first row from another config, e.g. the
#                                                       recipe without keys an older build lacks)
#
# Each row runs nst-train for ITERATIONS steps on real photos (../shared/data/train, else Debian
# opencv-doc's samples) with a random-weight loss network (speed does not depend on the weights)
# and prints the median s/iteration of the steps after the first two (warm-up), then where a
# step's time goes (median seconds per phase, from log.jsonl's step_seconds). The first row is the
# shipped recipe itself (configs/cpu_overnight.yaml). Run it on an otherwise idle machine: other
# processes on the cores distort every figure (the load average is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-8}
threads=${2:-0}
bin=${NST_BIN:-build/bin}
recipe=${RECIPE:-configs/cpu_overnight.yaml}
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
  "cpu_overnight ($recipe)|--config $recipe data.train_dir=$photos data.val_count=0 style.images=[$style] loss_network.weights=random train.validate_every=0 train.log_every=1 train.checkpoint_every=100000 train.threads=$threads"
  "vgg16 width32 256px batch4 fp32|loss_network.name=vgg16 model.width=32 data.image_size=256 train.batch_size=4 $vgg_layers"
  "squeezenet width32 256px batch4 fp32|loss_network.name=squeezenet1_1 model.width=32 data.image_size=256 train.batch_size=4 $sqz_layers"
  "squeezenet width16 256px batch4 fp32|loss_network.name=squeezenet1_1 model.width=16 data.image_size=256 train.batch_size=4 $sqz_layers"
  "squeezenet width16 256px batch4 bf16|loss_network.name=squeezenet1_1 model.width=16 data.image_size=256 train.batch_size=4 train.precision=bf16 $sqz_layers"
  "squeezenet width16 192px batch4 fp32|loss_network.name=squeezenet1_1 model.width=16 data.image_size=192 train.batch_size=4 $sqz_layers"
  "squeezenet width16 128px batch4 fp32|loss_network.name=squeezenet1_1 model.width=16 data.image_size=128 train.batch_size=4 $sqz_layers"
)

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load average:$(uptime | sed 's/.*load average://')"
printf '%-44s %7s   %s\n' "recipe ($iterations iterations, threads=${threads/#0/all})" "s/it" \
  "median s/step: data content net_fwd loss_fwd loss_bwd net_bwd optim"
for row in "${rows[@]}"; do
  label=${row%%|*}
  [[ -z ${ROWS:-} || $label == *"$ROWS"* ]] || continue
  overrides=${row#*|}
  run="$work/run_$RANDOM"
  [[ $overrides == --config* ]] || overrides="--config $work/base.yaml $overrides"
  # shellcheck disable=SC2086  # overrides are separate words on purpose
  if ! "$bin/nst-train" $overrides run_dir="$run" train.iterations="$iterations" > "$work/out.txt" 2>&1; then
    printf '%-44s %7s\n' "$label" "failed"
    tail -1 "$work/out.txt" >&2
    continue
  fi
  seconds=$(/usr/bin/python3 - "$run/log.jsonl" <<'EOF'
import json, statistics, sys
rates = [json.loads(l) for l in open(sys.argv[1])]
lines = [r for r in rates if "total" in r and r.get("it_per_s")][2:]
if not lines:
    print("    n/a")
    sys.exit()
phases = ["data", "content", "net_forward", "loss_forward", "loss_backward", "net_backward", "optimizer"]
per_phase = " ".join(f"{statistics.median(l['step_seconds'][p] for l in lines):.3f}" for p in phases)
print(f"{statistics.median(1 / l['it_per_s'] for l in lines):7.3f}   {per_phase}")
EOF
)
  printf '%-44s %s\n' "$label" "$seconds"
  grep -o "train.precision auto: .*" "$work/out.txt" | sed 's/^/    /' || true
done
