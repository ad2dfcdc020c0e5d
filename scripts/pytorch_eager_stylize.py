#!/usr/bin/python3
"""The peer baseline for scripts/bench_vs_pytorch.sh: pytorch/examples' TransformerNet (the mirror in
tests/python/transformer_reference.py) in plain PyTorch eager fp32, all cores, over a folder of
images: decode (PIL), forward under no_grad, clamp, encode JPEG, as neural_style.py stylize does.

  pytorch_eager_stylize.py CHECKPOINT.pth IN_DIR OUT_DIR
Prints "images N seconds S" (the loop only: model loading and interpreter start excluded).
"""
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from transformer_reference import TransformerNet  # noqa: E402


def main():
    checkpoint, in_dir, out_dir = sys.argv[1:4]
    torch.set_num_threads(os.cpu_count())
    net = TransformerNet()
    net.load_state_dict(torch.load(checkpoint, map_location="cpu"))
    net.eval()
    os.makedirs(out_dir, exist_ok=True)
    names = sorted(n for n in os.listdir(in_dir) if n.lower().endswith((".jpg", ".jpeg", ".png")))
    start = time.monotonic()
    for name in names:
        image = np.asarray(Image.open(os.path.join(in_dir, name)).convert("RGB"), dtype=np.float32)
        x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0)
        with torch.no_grad():
            y = net(x)[0].clamp(0, 255).permute(1, 2, 0).round().to(torch.uint8).numpy()
        Image.fromarray(y).save(os.path.join(out_dir, os.path.splitext(name)[0] + ".jpg"), quality=90)
    print(f"images {len(names)} seconds {time.monotonic() - start:.3f}")


if __name__ == "__main__":
    main()
