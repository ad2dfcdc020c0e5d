#!/usr/bin/env python3
"""Writes the objective a model was trained with as an nst-optimize / nst-eval config.

  model_objective.py MODEL.safetensors SIZE OUT.yaml

Reads the training config from the model's provenance (`nst-train` stores it whole) and keeps what
defines the loss: `loss_network`, `loss` (without the training-only `loss.temporal`) and the style
blend weights. The trainer resizes style images to a fixed long side (`style.size`), nst-optimize
relative to the stylized image (`style.scale`), so for photos of long side SIZE the scale is
style.size / SIZE: both then see the same style image.
Exit status 1 with one line when the model has no such provenance (e.g. an imported peer model).
"""
import json
import os
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def objective(model_path, size):
    try:
        _, metadata = safetensors_io.load(model_path)
        config = yaml.safe_load(json.loads(metadata["provenance"])["config"])
    except (OSError, KeyError, ValueError, yaml.YAMLError) as error:
        raise SystemExit(f"model_objective: error: {model_path}: no training config in its provenance ({error})")
    style = config.get("style", {})
    loss = dict(config["loss"])
    loss.pop("temporal", None)  # training only (stability between two views): no term of one image's loss
    result = {"loss_network": config["loss_network"], "loss": loss,
              "style": {"weights": style.get("weights", [])}}
    if style.get("size"):
        result["style"]["scale"] = float(style["size"]) / size
    return result


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: model_objective.py MODEL.safetensors SIZE OUT.yaml")
    model_path, size, out = sys.argv[1], sys.argv[2], sys.argv[3]
    if not size.isdigit() or int(size) <= 0:
        raise SystemExit(f"model_objective: error: SIZE must be a positive whole number, got '{size}'")
    text = yaml.safe_dump(objective(model_path, int(size)), sort_keys=False)
    with open(out + ".tmp", "w") as f:
        f.write(f"# The objective {os.path.basename(model_path)} was trained with, for photos of long side {size}.\n")
        f.write(text)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
