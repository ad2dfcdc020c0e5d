#!/usr/bin/env bash
# Deployment speed and agreement (docs/deploy.md): OpenCV DNN running the exported ONNX model vs
# nst's LibTorch stylizer (what nst-infer runs), and PyTorch (python3-torch) running the exported
# TorchScript. Run on a quiet machine; the load average is printed.
# Usage: [SIZES="512 1024"] [REPEAT=5] scripts/bench_deploy.sh [MODEL.safetensors ...]
#   default: ../shared/anchors' candy models (full and half width), imported into a temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
bin=build/bin
[[ -x $bin/nst-bench-deploy && -x $bin/nst-export ]] || scripts/bootstrap.sh >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
models=("$@")
if ((${#models[@]} == 0)); then
  for name in candy_pytorch_examples_fp16 candy_half_width_fp16; do
    source=../shared/anchors/$name.pth
    [[ -f $source ]] || { echo "bench_deploy: error: $source: not found; pass MODEL.safetensors files" >&2; exit 1; }
    /usr/bin/python3 scripts/import_pytorch_model.py "$source" "$tmp/$name.safetensors" 2>/dev/null
    models+=("$tmp/$name.safetensors")
  done
fi
image=../shared/data/eval/chicago.jpg
[[ -f $image ]] || image=""
echo "# $(date -u '+%F %H:%M') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for model in "${models[@]}"; do
  $bin/nst-export --model "$model" --torchscript "$tmp/model.pt" 2>/dev/null
  for size in ${SIZES:-512}; do
    echo "## $(basename "$model" .safetensors), ${size}x${size}"
    $bin/nst-bench-deploy --model "$model" --size "$size" --repeat "${REPEAT:-5}" ${image:+--image "$image"}
    /usr/bin/python3 - "$tmp/model.pt" "$size" <<'PY'
import os, statistics, sys, time
import torch
torch.set_num_threads(len(os.sched_getaffinity(0)))
net = torch.jit.load(sys.argv[1]).eval()
x = torch.rand(1, 3, int(sys.argv[2]), int(sys.argv[2])) * 255
times = []
with torch.inference_mode():
    net(x)
    for _ in range(int(os.environ.get("REPEAT", "5"))):
        start = time.perf_counter(); net(x); times.append(time.perf_counter() - start)
print(f"PyTorch {torch.__version__} TorchScript (python3-torch, forward only): {statistics.median(times):.3f} s")
PY
  done
done
echo "# done; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
