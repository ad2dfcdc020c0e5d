#!/usr/bin/python3
"""Converts a pytorch/examples fast_neural_style checkpoint (.pth / .model state dict, as saved by
its neural_style.py) into nst's model file: a safetensors file with the same tensor names and
__metadata__ (format, format_version, architecture, provenance). Runs with Debian's python3-torch.

  scripts/import_pytorch_model.py candy.pth candy.safetensors [--style-name candy]

The checkpoint is read with torch.load(weights_only=True): plain state dicts (also inside
{"state_dict": ...}) load, pickled modules are refused rather than executed.

The deprecated running_mean/running_var tensors of old (PyTorch < 0.4) InstanceNorm checkpoints are
dropped with a note. The architecture (width, number of residual blocks) is read from the tensor
shapes; every tensor is checked against the names that architecture needs. Writing is atomic.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

FORMAT = "nst-transformer-net"  # nets/model_file.h: kModelFormat
FORMAT_VERSION = 1


def fail(path, problem):
    sys.exit(f"import_pytorch_model: error: {path}: {problem}")


def state_dict_of(path):
    # weights_only: a checkpoint from the internet must not run code while loading (torch >= 1.13).
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors alike: report in one line
        first_line = str(e).splitlines()[0] if str(e) else ""
        fail(path, f"cannot read as a PyTorch state dict ({type(e).__name__}: {first_line[:200]}); "
                   "a pickled module must be re-saved as its state_dict()")
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        fail(path, "not a state dict of tensors")
    return dict(loaded)


def expected_shapes(width, res_blocks):
    """Tensor names and shapes of pytorch/examples' TransformerNet (scaled by width)."""
    shapes = {}

    def conv(name, cin, cout, k):
        shapes[f"{name}.conv2d.weight"] = [cout, cin, k, k]
        shapes[f"{name}.conv2d.bias"] = [cout]

    def norm(name, c):
        shapes[f"{name}.weight"] = [c]
        shapes[f"{name}.bias"] = [c]

    w = width
    conv("conv1", 3, w, 9), norm("in1", w)
    conv("conv2", w, 2 * w, 3), norm("in2", 2 * w)
    conv("conv3", 2 * w, 4 * w, 3), norm("in3", 4 * w)
    for i in range(1, res_blocks + 1):
        conv(f"res{i}.conv1", 4 * w, 4 * w, 3), norm(f"res{i}.in1", 4 * w)
        conv(f"res{i}.conv2", 4 * w, 4 * w, 3), norm(f"res{i}.in2", 4 * w)
    conv("deconv1", 4 * w, 2 * w, 3), norm("in4", 2 * w)
    conv("deconv2", 2 * w, w, 3), norm("in5", w)
    conv("deconv3", w, 3, 9)
    return shapes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="pytorch/examples state dict (.pth or .model)")
    parser.add_argument("output", help="model file to write (.safetensors)")
    parser.add_argument("--style-name", default=None, help="style name for the provenance (default: file stem)")
    args = parser.parse_args()

    if not os.path.isfile(args.checkpoint):
        fail(args.checkpoint, "no such file")
    state = state_dict_of(args.checkpoint)
    stale = sorted(k for k in state if re.search(r"\.(running_mean|running_var|num_batches_tracked)$", k))
    for k in stale:
        del state[k]
    if stale:
        print(f"import_pytorch_model: note: dropped {len(stale)} stale running statistics tensors "
              f"({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''})", file=sys.stderr)

    if "conv1.conv2d.weight" not in state:
        fail(args.checkpoint, "no conv1.conv2d.weight: not a pytorch/examples TransformerNet state dict")
    width = state["conv1.conv2d.weight"].shape[0]
    res_blocks = max([int(m.group(1)) for k in state for m in [re.match(r"res(\d+)\.", k)] if m] or [0])
    expected = expected_shapes(width, res_blocks)
    missing = sorted(set(expected) - set(state))
    unknown = sorted(set(state) - set(expected))
    if missing:
        fail(args.checkpoint, f"{len(missing)} tensors missing: {', '.join(missing[:4])}")
    if unknown:
        fail(args.checkpoint, f"{len(unknown)} unknown tensors: {', '.join(unknown[:4])}")
    for name, shape in expected.items():
        if list(state[name].shape) != shape:
            fail(args.checkpoint, f"tensor '{name}' has shape {list(state[name].shape)}, expected {shape}")
        if not state[name].is_floating_point() or not torch.isfinite(state[name]).all():
            fail(args.checkpoint, f"tensor '{name}' is not finite floating point")

    with open(args.checkpoint, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    architecture = {"width": width, "res_blocks": res_blocks, "norm": "instance", "upsample": "nearest-conv",
                    "padding": "reflect", "output": "linear"}
    provenance = {
        "source": "pytorch/examples fast_neural_style checkpoint",
        "imported_from": os.path.basename(args.checkpoint),
        "imported_sha256": sha256,
        "style": args.style_name or os.path.splitext(os.path.basename(args.checkpoint))[0],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    tensors = {name: state[name].float() for name in expected}
    try:
        safetensors_io.save(args.output, tensors, {"format": FORMAT, "format_version": str(FORMAT_VERSION),
                                                   "architecture": json.dumps(architecture),
                                                   "provenance": json.dumps(provenance)})
    except OSError as e:
        fail(args.output, f"cannot write ({e.strerror})")
    print(f"import_pytorch_model: wrote {args.output} (width {width}, {res_blocks} residual blocks)", file=sys.stderr)


if __name__ == "__main__":
    main()
