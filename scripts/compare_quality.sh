#!/usr/bin/env bash
# Where does a feed-forward style model's loss land on the optimizer's loss curve?
#
#   scripts/compare_quality.sh MODEL STYLE EVAL_DIR
#
# 1. nst-infer stylizes the photos of EVAL_DIR with MODEL (longest side SIZE);
# 2. nst-optimize (L-BFGS, from the content image) optimizes each photo with STYLE, keeping snapshots
#    at the iteration counts in ITERATIONS;
# (fp32 throughout: figures comparable across machines, whatever precision auto would pick.)
# 3. nst-eval scores the model's outputs and every snapshot with one loss definition (CONFIG);
# 4. prints a table, each photo's place on its own curve and their median, e.g. "median: model loss
#    ~= L-BFGS iteration 60" (Johnson et al. 2016 report that their nets reach roughly the loss of
#    50-100 L-BFGS iterations);
# 5. writes a contact sheet (SHEET): photo | model | the optimizer at each iteration count.
#
# Environment (defaults): CONFIG (model: the objective MODEL was trained with, from its provenance,
# via scripts/model_objective.py; or a loss config file both nst-optimize and nst-eval read, e.g.
# configs/optimize_squeezenet.yaml for imported models), SIZE (256), ITERATIONS ("10 20 50 100 200"),
# LIMIT (0 = every photo), THREADS (0 = all cores), BIN (build/bin), WORK (a new directory under
# /tmp; kept for inspection), SHEET ($WORK/sheet.png), SHEET_HEIGHT (160), LINE_SEARCH (strong_wolfe;
# none = fixed unit steps with the image clipped to 0..255, Johnson et al.'s "projected L-BFGS").
# The placement says how far the model got on its own objective; scripts/quality_meter.py says how
# much style it adds and how much structure it keeps, independently of any recipe's weights.
# Run from the repository root (CONFIG's relative paths are relative to it).
set -euo pipefail

die() { echo "compare_quality: error: $*" >&2; exit 1; }

[ $# -eq 3 ] || die "usage: scripts/compare_quality.sh MODEL STYLE EVAL_DIR (see the comments at the top)"
MODEL=$1 STYLE=$2 EVAL_DIR=$3
CONFIG=${CONFIG:-model}
SIZE=${SIZE:-256}
ITERATIONS=${ITERATIONS:-"10 20 50 100 200"}
LIMIT=${LIMIT:-0}
THREADS=${THREADS:-0}
BIN=${BIN:-build/bin}
WORK=${WORK:-$(mktemp -d /tmp/compare_quality.XXXXXX)}
SHEET=${SHEET:-$WORK/sheet.png}
SHEET_HEIGHT=${SHEET_HEIGHT:-160}
LINE_SEARCH=${LINE_SEARCH:-strong_wolfe}
PYTHON=${PYTHON:-/usr/bin/python3}

[ -f "$MODEL" ] || die "$MODEL: no such model file"
[ -f "$STYLE" ] || die "$STYLE: no such style image"
[ -d "$EVAL_DIR" ] || die "$EVAL_DIR: no such folder"
[[ $SIZE =~ ^[1-9][0-9]*$ ]] || die "SIZE must be a positive whole number, got '$SIZE'"
[[ $LINE_SEARCH == strong_wolfe || $LINE_SEARCH == none ]] || die "LINE_SEARCH must be strong_wolfe or none, got '$LINE_SEARCH'"
mkdir -p "$WORK"
if [ "$CONFIG" = model ]; then
  CONFIG="$WORK/objective.yaml"
  "$PYTHON" "$(dirname "$0")/model_objective.py" "$MODEL" "$SIZE" "$CONFIG" ||
    die "$MODEL has no training config (an imported model?): set CONFIG=configs/optimize_squeezenet.yaml"
fi
[ -f "$CONFIG" ] || die "$CONFIG: no such config file (set CONFIG=...)"
for tool in nst-infer nst-optimize nst-eval; do
  [ -x "$BIN/$tool" ] || die "$BIN/$tool not built (build first, e.g. scripts/bootstrap.sh, or set BIN=...)"
done
read -r -a counts <<< "$ITERATIONS"
[ ${#counts[@]} -gt 0 ] || die "ITERATIONS is empty"
max=0 step=0
gcd() { local a=$1 b=$2; while [ "$b" -gt 0 ]; do local t=$((a % b)); a=$b; b=$t; done; echo "$a"; }
for n in "${counts[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "ITERATIONS must be positive whole numbers, got '$n'"
  [ "$n" -gt "$max" ] && max=$n
  step=$(gcd "$n" "$step")
done

mkdir -p "$WORK"/{content,model,optimize,snapshots,curves}
# The photos (first LIMIT), copied into one folder so every tool sees the same set (copies, not
# symlinks: tools that resolve links would see another folder).
mapfile -t photos < <(find "$EVAL_DIR" -maxdepth 1 -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \
  -o -iname '*.bmp' -o -iname '*.webp' -o -iname '*.tif' -o -iname '*.tiff' \) | sort)
[ ${#photos[@]} -gt 0 ] || die "$EVAL_DIR: no images"
[ "$LIMIT" -gt 0 ] && photos=("${photos[@]:0:$LIMIT}")
for photo in "${photos[@]}"; do cp "$photo" "$WORK/content/"; done
echo "compare_quality: ${#photos[@]} photo(s), ${SIZE}px, iterations ${counts[*]}, config $CONFIG; work in $WORK" >&2

"$BIN/nst-infer" --model "$MODEL" --input "$WORK/content" --output "$WORK/model" --max-size "$SIZE" \
  --output-ext png --threads "$THREADS" --precision fp32 >&2

for photo in "$WORK"/content/*; do
  stem=$(basename "${photo%.*}")
  "$BIN/nst-optimize" --config "$CONFIG" --content "$photo" --style "$STYLE" --output "$WORK/optimize/$stem.png" \
    output.size="$SIZE" optimize.optimizer=lbfgs optimize.iterations="$max" optimize.schedule.sizes=[] \
    optimize.schedule.iterations=[] optimize.init=content optimize.lbfgs.line_search="$LINE_SEARCH" output.snapshot_every="$step" \
    output.snapshot_dir="$WORK/snapshots" output.curve="$WORK/curves/$stem.jsonl" threads="$THREADS" precision=fp32 > /dev/null
  for n in "${counts[@]}"; do
    mkdir -p "$WORK/iter_$n"
    snapshot=$(printf '%s/snapshots/%s.iter%04d.png' "$WORK" "$stem" "$n")
    # L-BFGS may stop early once converged: later counts are then the final image.
    [ -f "$snapshot" ] || snapshot="$WORK/optimize/$stem.png"
    cp "$snapshot" "$WORK/iter_$n/$stem.png"
  done
done

"$BIN/nst-eval" --config "$CONFIG" --content "$WORK/content" --style "$STYLE" --stylized "$WORK/model" \
  --json "$WORK/eval_model.jsonl" threads="$THREADS" precision=fp32 > /dev/null
for n in "${counts[@]}"; do
  "$BIN/nst-eval" --config "$CONFIG" --content "$WORK/content" --style "$STYLE" --stylized "$WORK/iter_$n" \
    --json "$WORK/eval_iter_$n.jsonl" threads="$THREADS" precision=fp32 > /dev/null
done

# Placement: log-log interpolation between the scored snapshots, and the first iteration at which
# the optimizer's own per-iteration curve (float image, before 8-bit rounding) goes below the model.
"$PYTHON" - "$WORK" "${counts[@]}" <<'EOF'
import json, math, os, sys

work, counts = sys.argv[1], sorted(int(n) for n in sys.argv[2:])

def totals(path):
    with open(path) as f:
        return {e["name"]: e["losses"]["total"] for e in map(json.loads, filter(str.strip, f))}

model = totals(os.path.join(work, "eval_model.jsonl"))
optimizer = {n: totals(os.path.join(work, f"eval_iter_{n}.jsonl")) for n in counts}
names = sorted(set(model).intersection(*optimizer.values()))
if not names:
    sys.exit("compare_quality: error: no photo was scored for both the model and the optimizer")

def place(loss, curve):  # curve: [(iteration, loss)], loss falling
    if loss >= curve[0][1]:
        return f"<= {curve[0][0]}", float(curve[0][0])
    for (n0, l0), (n1, l1) in zip(curve, curve[1:]):
        if l1 <= loss <= l0:
            if l0 == l1:
                return f"{n0}", float(n0)
            x = math.log(n0) + (math.log(n1) - math.log(n0)) * (math.log(l0) - math.log(loss)) / (math.log(l0) - math.log(l1))
            return f"{math.exp(x):.0f}", math.exp(x)
    return f"> {curve[-1][0]}", float(curve[-1][0])

def crossing(name, loss):
    path = os.path.join(work, "curves", name + ".jsonl")
    if not os.path.exists(path):
        return "-"
    with open(path) as f:
        for entry in map(json.loads, filter(str.strip, f)):
            if entry["total"] <= loss:
                return str(entry["iteration"])
    return "never"

header = f"{'photo':<20}{'model':>12}" + "".join(f"{'it ' + str(n):>12}" for n in counts) + f"{'~iteration':>12}{'curve':>8}"
print(header)
places = []
for name in names:
    label, value = place(model[name], [(n, optimizer[n][name]) for n in counts])
    places.append((value, label))
    print(f"{name:<20}{model[name]:>12.5g}" + "".join(f"{optimizer[n][name]:>12.5g}" for n in counts) +
          f"{label:>12}{crossing(name, model[name]):>8}")
mean_model = sum(model[n] for n in names) / len(names)
mean_curve = [(n, sum(optimizer[n][x] for x in names) / len(names)) for n in counts]
label, _ = place(mean_model, mean_curve)
print(f"{'mean':<20}{mean_model:>12.5g}" + "".join(f"{l:>12.5g}" for _, l in mean_curve) + f"{label:>12}")
print(f"model loss ~= L-BFGS iteration {label} (mean total loss over {len(names)} photo(s); scores from nst-eval)")
# The lower middle for an even count, with its label: a bound such as "> 200" stays a bound.
_, median = sorted(places)[(len(places) - 1) // 2]
print(f"median: model loss ~= L-BFGS iteration {median} (median of {len(places)} photo(s))")
EOF

columns=("photo=$WORK/content" "model=$WORK/model")
for n in "${counts[@]}"; do columns+=("L-BFGS $n=$WORK/iter_$n"); done
"$PYTHON" "$(dirname "$0")/contact_sheet.py" "$SHEET" "${columns[@]}" --height "$SHEET_HEIGHT" >&2
