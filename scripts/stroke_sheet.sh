#!/usr/bin/env bash
# The --stroke-scale sheet of docs/inference.md: one opencv-doc photo stylized by the shipped model
# at stroke scales 0.5, 1, 2 and 2 with --stroke-detail, side by side (scripts/contact_sheet.py),
# and the stylization time of each as nst-infer reports it.
#   scripts/stroke_sheet.sh [OUT.jpg] [MODEL] [PHOTO]
# Defaults: docs/images/stroke_scale.jpg, models/starry_night.safetensors, opencv-doc's fruits.jpg.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/images/stroke_scale.jpg}
model=${2:-models/starry_night.safetensors}
photo=${3:-/usr/share/doc/opencv-doc/examples/data/fruits.jpg}
build=${BUILD_DIR:-build}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
columns=()
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in "0.5:scale 0.5" "1:scale 1" "2:scale 2" "2 --stroke-detail:scale 2 + detail"; do
  args=${spec%%:*} label=${spec#*:}
  mkdir -p "$work/$label"
  # shellcheck disable=SC2086  # args holds the scale and an optional flag
  "$build/bin/nst-infer" --model "$model" --input "$photo" --output "$work/$label/photo.png" \
    --threads "${THREADS:-0}" --stroke-scale $args 2>&1 | sed "s|^|$label: |"
  columns+=("$label=$work/$label")
done
/usr/bin/python3 scripts/contact_sheet.py "$out" "${columns[@]}" --height "${HEIGHT:-240}" --quality "${QUALITY:-82}"
ls -l "$out"
