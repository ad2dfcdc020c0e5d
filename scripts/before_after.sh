#!/usr/bin/env bash
# The README's before/after sheet: Debian opencv-doc sample photos, each beside its stylization by
# MODEL (longest side SIZE), as one JPEG made by nst-infer and scripts/contact_sheet.py.
#   scripts/before_after.sh MODEL OUT.jpg
# Environment (defaults): PHOTOS ("fruits building baboon butterfly"), SIZE (256), HEIGHT (170, of
# each cell), QUALITY (80), BIN (build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "before_after: error: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: scripts/before_after.sh MODEL OUT.jpg"
model=$1 out=$2
samples=/usr/share/doc/opencv-doc/examples/data
bin=${BIN:-build/bin}
[ -x "$bin/nst-infer" ] || die "$bin/nst-infer not built (scripts/bootstrap.sh)"
[ -f "$model" ] || die "$model: no such model file"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/photo" "$work/styled"
for name in ${PHOTOS:-fruits building baboon butterfly}; do
  [ -f "$samples/$name.jpg" ] || die "$samples/$name.jpg not found (apt-get install opencv-doc)"
  cp "$samples/$name.jpg" "$work/photo/"
done
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} "$bin/nst-infer" --model "$model" --input "$work/photo" \
  --output "$work/styled" --max-size "${SIZE:-256}" --output-ext png >/dev/null
/usr/bin/python3 scripts/contact_sheet.py "$out" "opencv-doc photo=$work/photo" "$(basename "$model")=$work/styled" \
  --height "${HEIGHT:-170}" --quality "${QUALITY:-80}"
