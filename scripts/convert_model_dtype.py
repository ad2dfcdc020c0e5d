#!/usr/bin/env python3
"""Rewrites an nst model file with 16-bit tensors (half the size; what models/ ships).

  convert_model_dtype.py IN.safetensors OUT.safetensors [--dtype f16|bf16|f32]

Tensor names, architecture and provenance are kept; the provenance gains "stored_dtype" and the
largest absolute rounding change, so the file says what was done to it. nst-infer computes in the
precision it is asked for whatever the stored type (F32, F16 and BF16 files all load). Written
atomically. float16 keeps 11 significant bits (the trained weights are well inside its range; the
script refuses a value that would overflow), bfloat16 8.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="f16")
    args = parser.parse_args()
    try:
        tensors, metadata = safetensors_io.load(args.input)
        provenance = json.loads(metadata["provenance"])
    except (OSError, KeyError, ValueError) as error:
        sys.exit(f"convert_model_dtype: error: {args.input}: not an nst model file ({error})")
    dtype = DTYPES[args.dtype]
    converted, largest_change = {}, 0.0
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            sys.exit(f"convert_model_dtype: error: {args.input}: tensor {name} is not floating point")
        result = tensor.to(dtype)
        if not torch.isfinite(result).all():
            sys.exit(f"convert_model_dtype: error: {args.input}: tensor {name} overflows {args.dtype}")
        largest_change = max(largest_change, float((result.float() - tensor.float()).abs().max()))
        converted[name] = result
    provenance["stored_dtype"] = args.dtype
    provenance["stored_dtype_max_change"] = largest_change
    metadata["provenance"] = json.dumps(provenance, sort_keys=True)
    safetensors_io.save(args.output, converted, metadata)
    size = os.path.getsize(args.output)
    print(f"convert_model_dtype: wrote {args.output} ({args.dtype}, {size / 1e6:.2f} MB, "
          f"largest change {largest_change:.2g})")


if __name__ == "__main__":
    main()
