#!/usr/bin/python3
"""Convert torchvision ImageNet weights (.pth) to the loss-network safetensors file nst reads.

Keeps the `features.*` tensors (the convolutional part; the classifier is dropped), checks every
name and shape against torchvision's own model definition, and records how inputs are normalized:
__metadata__ preprocess=torch_rgb_01 with ImageNet mean_rgb/std_rgb (what torchvision's weights
were trained with), plus the network name and the source file's sha256.

  convert_torchvision_weights.py vgg16-397923af.pth vgg16.safetensors
  convert_torchvision_weights.py --download vgg19 vgg19.safetensors     # fetches the URL below first

torchvision's published files (download them with any browser, curl or wget):
  vgg16          https://download.pytorch.org/models/vgg16-397923af.pth        (528 MB)
  vgg19          https://download.pytorch.org/models/vgg19-dcbb9e9d.pth        (548 MB)
  squeezenet1_1  https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth (4.7 MB)

Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
"""
import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

URLS = {
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "squeezenet1_1": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}
IMAGENET_MEAN, IMAGENET_STD = "0.485,0.456,0.406", "0.229,0.224,0.225"


def fail(message):
    print(f"convert_torchvision_weights: error: {message}", file=sys.stderr)
    sys.exit(1)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def guess_net(path):
    base = os.path.basename(path)
    for net in sorted(URLS, key=len, reverse=True):
        if base.startswith(net + "-") or base.startswith(net + "."):
            return net
    fail(f"{path}: cannot tell the network from the file name; pass --net {'|'.join(URLS)}")


def download(net, directory):
    """Downloads torchvision's file into `directory`; checks the sha256 prefix in its name."""
    url = URLS[net]
    target = os.path.join(directory, os.path.basename(url))
    print(f"downloading {url}", file=sys.stderr)
    try:
        urllib.request.urlretrieve(url, target)
    except OSError as e:
        fail(f"{url}: download failed ({e}); download it by hand and pass the file")
    expected = os.path.basename(url).rsplit("-", 1)[1].split(".")[0]
    if not sha256_of(target).startswith(expected):
        fail(f"{target}: sha256 does not start with {expected}: corrupt download")
    return target


def convert(pth, output, net, dtype):
    try:
        try:
            state = torch.load(pth, map_location="cpu", weights_only=True)
        except TypeError:  # torch without weights_only
            state = torch.load(pth, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unpickling problem is a bad file
        fail(f"{pth}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        fail(f"{pth}: expected a state dict, found {type(state).__name__}")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = {"features." + k: v.shape for k, v in getattr(torchvision.models, net)().features.state_dict().items()}
    tensors = {}
    for name, shape in expected.items():
        if name not in state:
            fail(f"{pth}: missing tensor '{name}' for {net} (is this a {net} checkpoint?)")
        tensor = state[name]
        if not torch.is_tensor(tensor) or tuple(tensor.shape) != tuple(shape):
            got = tuple(tensor.shape) if torch.is_tensor(tensor) else type(tensor).__name__
            fail(f"{pth}: tensor '{name}' has shape {got}, {net} expects {tuple(shape)}")
        tensors[name] = tensor.detach().to(dtype).contiguous()
    extra = sorted(k for k in state if k.startswith("features.") and k not in expected)
    if extra:
        fail(f"{pth}: unexpected tensor '{extra[0]}' for {net} (is this a {net} checkpoint?)")
    metadata = {"preprocess": "torch_rgb_01", "mean_rgb": IMAGENET_MEAN, "std_rgb": IMAGENET_STD, "network": net,
                "source": os.path.basename(pth), "source_sha256": sha256_of(pth)}
    safetensors_io.save(output, tensors, metadata)
    count = sum(t.numel() for t in tensors.values())
    print(f"{output}: {net} features, {len(tensors)} tensors, {count} parameters, preprocess torch_rgb_01")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="torchvision .pth file (not needed with --download)")
    parser.add_argument("output", help="safetensors file to write")
    parser.add_argument("--net", choices=sorted(URLS), help="network (default: from the input file name)")
    parser.add_argument("--download", choices=sorted(URLS), metavar="NET",
                        help="download torchvision's published weights for NET first (" + ", ".join(sorted(URLS)) + ")")
    parser.add_argument("--dtype", choices=["f32", "f16"], default="f32", help="stored precision (default f32)")
    args = parser.parse_intermixed_args()
    if bool(args.input) == bool(args.download):
        fail("give either an input .pth file or --download NET")
    dtype = torch.float32 if args.dtype == "f32" else torch.float16
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.output))):
        fail(f"{args.output}: directory does not exist")
    if args.download:
        with tempfile.TemporaryDirectory() as directory:
            convert(download(args.download, directory), args.output, args.download, dtype)
        return
    if not os.path.isfile(args.input):
        fail(f"{args.input}: no such file")
    convert(args.input, args.output, args.net or guess_net(args.input), dtype)


if __name__ == "__main__":
    main()
