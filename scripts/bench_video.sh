#!/usr/bin/env bash
# Video flicker benchmark (docs/inference.md, "Video without flicker"): for Debian opencv-doc's
# vtest.avi and Megamind.avi (first FRAMES frames, longest side MAX_SIZE) it stylizes each clip
#   1. frame by frame with MODEL (the per-frame baseline),
#   2. with MODEL and --temporal-blend BLEND,
#   3. frame by frame with STABLE (a model fine-tuned with loss.temporal, configs/video.yaml), if given,
# and reports for each the temporal warping error (nst-eval, Lai et al. 2018), its ratio to the
# baseline, the time per frame and its extra over the baseline, and the mean content / style losses
# of every LOSS_EVERY'th frame with MODEL's training objective (scripts/model_objective.py).
#   scripts/bench_video.sh MODEL [STABLE]
# Environment (defaults): FRAMES (100), MAX_SIZE (384), BLEND (0.7), THREADS (0 = all cores),
# LOSS_EVERY (10), CLIPS (the two opencv-doc videos), BIN (build/bin), WORK (a new directory under
# /tmp, kept), STABLE_BLEND (1: also STABLE with --temporal-blend), REUSE (1: keep the outputs and
# timings a previous run left in WORK, e.g. to add STABLE later). Outputs are written losslessly
# (FFV1 in .mkv) so codec noise does not count as flicker.
# Wall times are disturbed by other load: the script prints the load average and each run's CPU time per
# frame (user + system), which the extra time is computed from; compare within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "bench_video: error: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: scripts/bench_video.sh MODEL [STABLE_MODEL]"
model=$1 stable=${2:-}
frames=${FRAMES:-100} max_size=${MAX_SIZE:-384} blend=${BLEND:-0.7} threads=${THREADS:-0} every=${LOSS_EVERY:-10}
bin=${BIN:-build/bin}
data=/usr/share/doc/opencv-doc/examples/data
clips=${CLIPS:-"$data/vtest.avi $data/Megamind.avi"}
work=${WORK:-$(mktemp -d /tmp/bench_video.XXXXXX)}
mkdir -p "$work"
for tool in nst-infer nst-eval; do [ -x "$bin/$tool" ] || die "$bin/$tool not built (scripts/bootstrap.sh)"; done
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

/usr/bin/python3 scripts/model_objective.py "$model" "$max_size" "$work/objective.yaml"
style=$(/usr/bin/python3 - "$model" <<'PY'
import json, sys, yaml
sys.path.insert(0, "scripts")
import safetensors_io
_, metadata = safetensors_io.load(sys.argv[1])
print(yaml.safe_load(json.loads(metadata["provenance"])["config"])["style"]["images"][0])
PY
)
[ -f "$style" ] || die "$model: its style image $style is not here"

# stylize NAME MODEL [ARGS...]: writes $work/CLIP_NAME.mkv; prints "WALL CPU": the wall and the CPU
# (user + system, all threads) seconds per frame of the whole nst-infer run.
stylize() {
  local clip=$1 name=$2 net=$3; shift 3
  local out="$work/$(basename "${clip%.*}")_$name.mkv" log="$work/$(basename "${clip%.*}")_$name.log"
  if [ "${REUSE:-0}" = 1 ] && [ -f "$out" ] && [ -f "$log.seconds" ]; then cat "$log.seconds"; return; fi
  /usr/bin/time -f "%e %U %S" -o "$log.time" \
    "$bin/nst-infer" --model "$net" --input "$clip" --output "$out" --max-frames "$frames" --max-size "$max_size" \
    --threads "$threads" --fourcc FFV1 "$@" 2>"$log" || { cat "$log" >&2; die "nst-infer failed on $clip"; }
  awk -v n="$frames" '{printf "%.4f %.4f", $1 / n, ($2 + $3) / n}' "$log.time" | tee "$log.seconds"
}

echo "## $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores; FRAMES=$frames MAX_SIZE=$max_size BLEND=$blend THREADS=$threads"
printf "| clip | variant | warping error | ratio | pairs (cuts) | s/frame | CPU s/frame | extra CPU time | blend ms/frame | content | style |\n"
printf "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
for clip in $clips; do
  [ -f "$clip" ] || die "$clip not found (apt-get install opencv-doc)"
  base=$(basename "${clip%.*}")
  variants=("per_frame:$model" "blend:$model:--temporal-blend:$blend")
  [ -n "$stable" ] && variants+=("stable:$stable")
  [ -n "$stable" ] && [ "${STABLE_BLEND:-0}" = 1 ] && variants+=("stable_blend:$stable:--temporal-blend:$blend")
  declare -A seconds=()
  for variant in "${variants[@]}"; do
    IFS=: read -r name net args <<<"$variant"
    seconds[$name]=$(stylize "$clip" "$name" "$net" ${args//:/ })
  done
  for variant in "${variants[@]}"; do
    IFS=: read -r name net args <<<"$variant"
    json=$("$bin/nst-eval" --content "$clip" --stylized "$work/${base}_$name.mkv" --baseline "$work/${base}_per_frame.mkv" \
      --max-frames "$frames" --loss-every "$every" --style "$style" --config "$work/objective.yaml" threads="$threads" 2>/dev/null)
    echo "$json" >"$work/${base}_$name.json"
    blend_ms=$(grep -o 'temporal blend [0-9.]* ms/frame' "$work/${base}_$name.log" | awk '{print $3}' || true)
    /usr/bin/python3 - "$json" "$base" "$name" "${seconds[$name]}" "${seconds[per_frame]}" "${blend_ms:-}" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); base, name, times, times0, blend_ms = sys.argv[2:7]
(s, cpu), cpu0 = map(float, times.split()), float(times0.split()[1])
extra = cpu / cpu0 - 1
print(f"| {base} | {name} | {r['warping_error']:.5f} | {r['ratio']:.3f} | {r['pairs']} ({r.get('scene_cuts', 0)}) | {s:.3f} | {cpu:.3f} | {100 * extra:+.1f}% | "
      f"{blend_ms or '-'} | {r['losses']['content']:.4g} | {r['losses']['style']:.4g} |")
PY
  done
  unset seconds
done
echo
echo "extra CPU time: CPU seconds per frame (user + system of the whole run) over the per-frame run's; wall times"
echo "move with the machine's load, CPU times much less. blend ms/frame: the blend's own wall time (flows, mask,"
echo "warp, blend) from nst-infer's summary. pairs (cuts): frame pairs measured and scene cuts left out. Outputs and JSON: $work"
