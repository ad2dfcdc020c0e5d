#!/usr/bin/env bash
# The main job: set up and build if needed, then stylize Debian opencv-doc's sample photos and the
# first seconds of its vtest.avi into demo_out/, printing the time per image.
#
#   scripts/demo.sh [MODEL.safetensors]   # default: the shipped models/starry_night.safetensors
#   scripts/demo.sh --train               # train a quick model first, then stylize with it
#
# The shipped model (Van Gogh's Starry Night, public domain, trained with configs/cpu_overnight.yaml;
# models/README.md) stylizes right after the build. With --train a quick model is trained first
# (configs/quick_demo.yaml: about 10 minutes on a 2-core CPU) on ../shared/data/train if present, else
# on opencv-doc's sample photos, with opencv-doc's starry_night.jpg as the style. It needs SqueezeNet
# 1.1 loss-network weights, looked up in this order:
#   $NST_WEIGHTS_DIR/squeezenet1_1*.safetensors, ../shared/weights/squeezenet1_1*.safetensors,
#   demo_out/weights/squeezenet1_1.safetensors (downloaded from torchvision's URL and converted once).
# The trained model is kept (demo_out/quick_model/model.safetensors) and reused by the next run; an
# interrupted training run is resumed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
samples=/usr/share/doc/opencv-doc/examples/data
out=demo_out
build=${NST_BUILD_DIR:-build}   # another build directory, e.g. a developer's own
bin=$build/bin
say() { echo "demo: $*"; }
die() { echo "demo: error: $*" >&2; exit 1; }

train=false model=models/starry_night.safetensors
case "${1:-}" in
  --train) train=true model= ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  -*) die "unknown option $1 (usage: scripts/demo.sh [MODEL.safetensors | --train])" ;;
  ?*) model=$1 ;;
esac
[[ $# -le 1 ]] || die "too many arguments (usage: scripts/demo.sh [MODEL.safetensors | --train])"
[[ $train == true || -f $model ]] || die "$model: no such model file"

# Set up and build (bootstrap is idempotent; skip it when everything is already there).
if [[ ! -x $bin/nst-infer || ! -x $bin/nst-train || ! -d $samples ]]; then
  scripts/bootstrap.sh
  bin=build/bin
else
  cmake --build "$build" --target nst-train nst-infer >/dev/null || die "build failed (run: cmake --build $build)"
fi
[[ -d $samples ]] || die "$samples missing (install Debian's opencv-doc: scripts/bootstrap.sh)"
mkdir -p "$out"

# Spinning OpenMP threads slow down 5-15x when another process wants a core (see docs/training.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

find_weights() {
  local candidates=()
  [[ -n ${NST_WEIGHTS_DIR:-} ]] && candidates+=("$NST_WEIGHTS_DIR"/squeezenet1_1*.safetensors)
  candidates+=(../shared/weights/squeezenet1_1*.safetensors "$out/weights/squeezenet1_1.safetensors")
  for file in "${candidates[@]}"; do
    [[ -f $file ]] && { echo "$file"; return 0; }
  done
  return 1
}

if [[ $train == true ]]; then
  model=$out/quick_model/model.safetensors
  if [[ -f $model ]]; then
    say "using the quick model trained before: $model (delete $out/quick_model to train again)"
  else
    weights=$(find_weights || true)
    if [[ -z $weights ]]; then
      say "no SqueezeNet weights found; downloading torchvision's squeezenet1_1 (4.7 MB) and converting"
      mkdir -p "$out/weights"
      /usr/bin/python3 scripts/convert_torchvision_weights.py --download squeezenet1_1 "$out/weights/squeezenet1_1.safetensors" >&2 ||
        die "no loss-network weights: put squeezenet1_1*.safetensors in \$NST_WEIGHTS_DIR, or download https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth and run: scripts/convert_torchvision_weights.py squeezenet1_1-b8a52dc0.pth $out/weights/squeezenet1_1.safetensors"
      weights=$out/weights/squeezenet1_1.safetensors
    fi
    photos=../shared/data/train
    [[ -d $photos ]] || photos=$samples
    run=$out/quick_model
    say "training a quick model (configs/quick_demo.yaml) on $photos with $weights; progress below, Ctrl-C to stop (resumable)"
    if [[ -f $run/config.yaml ]]; then
      $bin/nst-train --resume "$run"
    else
      $bin/nst-train --config configs/quick_demo.yaml run_dir="$run" data.train_dir="$photos" \
        loss_network.weights="$weights" style.images="[$samples/starry_night.jpg]"
    fi
  fi
fi
[[ -f $model ]] || die "$model: no such model file"

# Photos: opencv-doc's natural photos (not its calibration boards and test patterns).
say "stylizing sample photos into $out/ with $model"
for name in baboon.jpg building.jpg fruits.jpg home.jpg lena.jpg messi5.jpg orange.jpg butterfly.jpg; do
  [[ -f $samples/$name ]] || continue
  $bin/nst-infer --model "$model" --input "$samples/$name" --output "$out/${name%.*}_stylized.jpg" 2>&1 |
    sed -n 's/^nst-infer: wrote \(.*\) in \(.*\)$/demo: \2 per image: \1/p'
done

# Video: the first 3 seconds (vtest.avi is 10 fps).
if [[ -f $samples/vtest.avi ]]; then
  say "stylizing the first 3 s of vtest.avi"
  start=$(date +%s.%N)
  $bin/nst-infer --model "$model" --input "$samples/vtest.avi" --output "$out/vtest_stylized.avi" --max-frames 30
  end=$(date +%s.%N)
  say "video: $(/usr/bin/python3 -c "print(f'{($end - $start) / 30:.2f} s per frame (30 frames, incl. start-up)')")"
fi
say "done: $root/$out"
