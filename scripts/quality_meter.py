#!/usr/bin/env python3
"""A style-transfer quality meter that depends on no training recipe's weights.

  quality_meter.py --style STYLE.jpg --photos DIR [--size 256] LABEL=DIR [LABEL=DIR ...] [--json OUT]

For each LABEL=DIR of stylized photos (matched to DIR's photos by file name without extension) it
prints two numbers that pull against each other, so neither can be gamed alone:

- style: how far the output's texture statistics are from the painting's. Per SqueezeNet 1.1 layer
  (relu1, fire2, fire3, fire5, fire7 — strides 2 to 16), the relative Gram error
  |G(out) - G(style)|^2 / |G(style)|^2; the painting is resized to a 256 px long side. The photo
  itself scores ~0.6-1.1; GPU-trained pytorch/examples models ~0.2-0.3 (lower = more of the style).
  relu1 is the colour palette, the deeper layers strokes and motifs.
- structure: how much of the photo's layout survives: the Pearson correlation of the gradient
  magnitude of the output's and the photo's luminance at half resolution (1 = every edge kept,
  ~0 = the content is gone). Independent of any network. The same peers score ~0.55-0.6.

Two more figures that no loss network can be fooled about, since a transform net trained against
SqueezeNet can hide patterns in its stride-2 sampling (docs/training.md, "Loss jitter"):
- fine: the share (%) of the output's luminance power above 0.3 cycles per pixel: pixel-scale
  hatching and noise. Photos at 512 px score ~1%, the peers' candy and udnie <1%, mosaic (tile
  outlines) ~7%.
- border: how much the outermost two pixels of each side differ from the band 3..9 pixels in (mean
  absolute difference of their means, grey levels): a frame the net paints around the picture.
  Photos and the peers ~2-3.

Medians over the photos. The loss network is torchvision's SqueezeNet 1.1 (python3-torch) with the
ImageNet weights given by --weights (default ../shared's), an implementation independent of nst's C++.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import safetensors_io  # noqa: E402
from loss_network_reference import SQUEEZENET_TAPS, hooked_forward, normalize  # noqa: E402

LAYERS = ["relu1", "fire2", "fire3", "fire5", "fire7"]
STYLE_SIZE = 256
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def load_squeezenet(path):
    tensors, metadata = safetensors_io.load(path)
    features = torchvision.models.squeezenet1_1().features.eval()
    features.load_state_dict({k[len("features."):]: v.float() for k, v in tensors.items()})
    mean = tuple(float(x) for x in metadata.get("mean_bgr", "104.006,116.669,122.679").split(","))
    return features, mean


def as_tensor(image):
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32).copy()).permute(2, 0, 1)[None]


def resized(image, long_side):
    scale = long_side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BOX)


def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def luminance_gradient(image):
    y = np.asarray(image.convert("L"), dtype=np.float64)
    gx, gy = np.zeros_like(y), np.zeros_like(y)
    gx[:, 1:-1] = y[:, 2:] - y[:, :-2]
    gy[1:-1] = y[2:] - y[:-2]
    return np.hypot(gx, gy)


def fine_share(image):
    y = np.asarray(image.convert("L"), dtype=np.float64)
    power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    fy = np.abs(np.fft.fftfreq(y.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(y.shape[1]))[None, :]
    return float(100 * power[np.maximum(fy, fx) > 0.3].sum() / max(power.sum(), 1e-12))


def border_step(image):
    y = np.asarray(image.convert("L"), dtype=np.float64)
    sides = [(y[:2], y[3:10]), (y[-2:], y[-10:-3]), (y[:, :2], y[:, 3:10]), (y[:, -2:], y[:, -10:-3])]
    return float(np.mean([abs(ring.mean() - band.mean()) for ring, band in sides]))


def correlation(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))


class Meter:
    def __init__(self, weights, style_path):
        self.features, self.mean = load_squeezenet(weights)
        style = self.taps(as_tensor(resized(Image.open(style_path), STYLE_SIZE)))
        self.targets = {layer: gram(style[layer]) for layer in LAYERS}

    def taps(self, x):
        with torch.no_grad():
            return hooked_forward(self.features, SQUEEZENET_TAPS, normalize(x, "caffe_bgr_255", self.mean))

    def score(self, output, photo):
        """output, photo: PIL images of the same size."""
        taps = self.taps(as_tensor(output))
        style = {layer: float(((gram(taps[layer]) - t) ** 2).mean() / (t ** 2).mean()) for layer, t in self.targets.items()}
        half = (max(1, output.width // 2), max(1, output.height // 2))
        structure = correlation(luminance_gradient(output.resize(half, Image.BOX)),
                                luminance_gradient(photo.resize(half, Image.BOX)))
        return style, structure, fine_share(output), border_step(output)


def images_by_stem(folder):
    return {os.path.splitext(os.path.basename(p))[0]: p for p in sorted(glob.glob(os.path.join(folder, "*")))
            if p.lower().endswith(EXTENSIONS)}


def score_folder(meter, photos, folder, size):
    outputs = images_by_stem(folder)
    rows = []
    for stem, photo_path in photos.items():
        if stem not in outputs:
            continue
        photo = Image.open(photo_path).convert("RGB")
        output = Image.open(outputs[stem]).convert("RGB")
        if size:
            output = resized(output, size)
        rows.append(meter.score(output, photo.resize(output.size, Image.BOX)))
    if not rows:
        sys.exit(f"quality_meter: error: {folder}: no image named like a photo of the photos folder")
    style = {layer: float(np.median([r[0][layer] for r in rows])) for layer in LAYERS}
    return {"photos": len(rows), "style": style, "style_mean": float(np.mean(list(style.values()))),
            "structure": float(np.median([r[1] for r in rows])), "fine": float(np.median([r[2] for r in rows])),
            "border": float(np.median([r[3] for r in rows]))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("columns", nargs="+", help="LABEL=DIR of stylized photos")
    parser.add_argument("--style", required=True)
    parser.add_argument("--photos", required=True, help="the content photos the outputs were made from")
    parser.add_argument("--size", type=int, default=0, help="resize outputs to this long side first (0 = as they are)")
    parser.add_argument("--weights", default=os.path.join(HERE, "..", "..", "shared", "weights",
                                                          "squeezenet1_1_imagenet_features.safetensors"))
    parser.add_argument("--json", help="also write the figures as JSON here")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    for path, what in ((args.style, "style image"), (args.weights, "weights file")):
        if not os.path.isfile(path):
            sys.exit(f"quality_meter: error: {path}: no such {what}")
    if not os.path.isdir(args.photos):
        sys.exit(f"quality_meter: error: {args.photos}: no such folder")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    meter = Meter(args.weights, args.style)
    photos = images_by_stem(args.photos)
    results = {}
    print(f"{'':24}{'style (relative Gram error, lower = more style)':>52}{'structure':>11}{'fine':>7}{'border':>8}")
    print(f"{'model':24}" + "".join(f"{layer:>9}" for layer in LAYERS) + f"{'mean':>7}{'(edges)':>11}{'(%)':>7}{'(grey)':>8}")
    for spec in args.columns:
        label, sep, folder = spec.partition("=")
        if not sep or not os.path.isdir(folder):
            sys.exit(f"quality_meter: error: '{spec}' is not LABEL=DIR of an existing folder")
        r = results[label] = score_folder(meter, photos, folder, args.size)
        print(f"{label:24}" + "".join(f"{r['style'][layer]:9.3f}" for layer in LAYERS) +
              f"{r['style_mean']:7.3f}{r['structure']:11.3f}{r['fine']:7.2f}{r['border']:8.1f}")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
