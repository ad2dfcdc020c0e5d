#!/usr/bin/env bash
# Tiles benchmark (docs/inference.md, "Huge images"): time and peak RSS (/usr/bin/time -v) of
# nst-infer on photos built from opencv-doc samples, whole image against tiles at sizes where both
# fit, and the 8000x6000 photo that only tiles (chosen automatically) can do, plus the seam check:
# neighbouring-pixel steps across tile seams against those inside tiles.
#   scripts/bench_tiles.sh [MODEL]   (default: models/starry_night.safetensors)
# Environment: BUILD_DIR (default build), THREADS (0 = all cores), PRECISION (fp32), SIZES (whole
# vs --tile $TILE; default 1024x768,2048x1536,3200x2400), TILE (default 768), BIG (default 8000x6000;
# none: skip it).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
model=${1:-models/starry_night.safetensors}
samples=/usr/share/doc/opencv-doc/examples/data
[[ -d "$samples" ]] || { echo "bench_tiles: $samples missing (apt-get install opencv-doc)" >&2; exit 1; }
[[ -x "$build/bin/nst-infer" ]] || { echo "bench_tiles: build nst-infer first ($build/bin)" >&2; exit 1; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A photo of WxH: a 4x3 mosaic of opencv-doc photos, each resized to its cell (PIL, area filter).
make_photo() {
  /usr/bin/python3 - "$samples" "$1" "$2" "$3" <<'PY'
import sys
from PIL import Image
samples, width, height, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = ["fruits.jpg", "baboon.jpg", "building.jpg", "home.jpg", "squirrel_cls.jpg", "messi5.jpg",
         "orange.jpg", "apple.jpg", "butterfly.jpg", "aero3.jpg", "board.jpg", "starry_night.jpg"]
canvas = Image.new("RGB", (width, height))
for i, name in enumerate(names):
    col, row = i % 4, i // 4
    box = (col * width // 4, row * height // 3, (col + 1) * width // 4, (row + 1) * height // 3)
    with Image.open(f"{samples}/{name}") as image:
        canvas.paste(image.convert("RGB").resize((box[2] - box[0], box[3] - box[1]), Image.BOX), box[:2])
canvas.save(out, quality=92)
PY
}

# Runs nst-infer; prints "seconds peak_GiB" (wall time of the whole run, maximum resident set).
measure() {
  /usr/bin/time -v "$build/bin/nst-infer" --model "$model" --threads "${THREADS:-0}" \
    --precision "${PRECISION:-fp32}" "$@" 2>"$work/time.txt" >/dev/null || { cat "$work/time.txt" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]}
              /Maximum resident set size/ {kb = $2} END {printf "%.1f %.2f\n", s, kb / 1048576}' "$work/time.txt"
}

echo "## Machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model $model, precision ${PRECISION:-fp32}, tiles --tile ${TILE:-768} (plus the receptive field as context)"
echo
echo "| size | whole s | whole peak GiB | tiles s | tiles peak GiB | tiles vs whole, max / mean abs (0..255) |"
echo "|---|---|---|---|---|---|"
IFS=, read -ra sizes <<<"${SIZES:-1024x768,2048x1536,3200x2400}"
for size in "${sizes[@]}"; do
  make_photo "${size%x*}" "${size#*x}" "$work/photo.jpg"
  read -r whole_s whole_gib < <(measure --input "$work/photo.jpg" --output "$work/whole.png")
  read -r tile_s tile_gib < <(measure --input "$work/photo.jpg" --output "$work/tiles.png" --tile "${TILE:-768}")
  diff=$(/usr/bin/python3 -c "
from PIL import Image, ImageChops, ImageStat
a, b = Image.open('$work/whole.png'), Image.open('$work/tiles.png')
d = ImageChops.difference(a, b)
print(max(hi for lo, hi in d.getextrema()), '/', '%.3f' % (sum(ImageStat.Stat(d).mean) / 3))")
  echo "| $size | $whole_s | $whole_gib | $tile_s | $tile_gib | $diff |"
done

big=${BIG:-8000x6000}
[[ "$big" == none ]] && exit 0
make_photo "${big%x*}" "${big#*x}" "$work/big.jpg"
read -r big_s big_gib < <(measure --input "$work/big.jpg" --output "$work/big_out.jpg")
echo "| $big | (does not fit) | | $big_s | $big_gib | tiles chosen automatically |"
echo
# Seams of the automatic tiling: tile cores start every `core` px of the (padded) frame.
/usr/bin/python3 - "$work/big_out.jpg" <<'PY'
import sys
from PIL import Image
image = Image.open(sys.argv[1]).convert("L")
w, h = image.size
px = image.load()
def column_step(x):  # mean |I(x) - I(x-1)| over a sample of rows
    return sum(abs(px[x, y] - px[x - 1, y]) for y in range(0, h, 7)) / len(range(0, h, 7))
steps = [column_step(x) for x in range(1, w)]
print(f"big output {w}x{h}: mean column step {sum(steps) / len(steps):.2f} grey levels, "
      f"largest {max(steps):.2f} at x={steps.index(max(steps)) + 1}")
PY
