"""Reference activations of torchvision's own vgg16/vgg19/squeezenet1_1 `features` for the C++ tests.

Writes OUT/weights.safetensors (the features' state dict with preprocess metadata; seeded random
weights, or --weights FILE reused as is) and OUT/reference.safetensors holding `input` (RGB 0..255,
[1,3,H,W]), `normalized` (what the first layer sees) and `tap.NAME` for every tap, captured with
forward hooks (cloned, since torchvision's ReLUs are in place).

With --save-pth FILE it instead saves the whole seeded random torchvision model's state dict (features
and classifier, as torchvision publishes it) for the converter test and references that model
(torch_rgb_01); with --pth FILE it loads such a checkpoint into torchvision's model.

Usage: loss_network_reference.py NET OUT [--size 64] [--seed 0] [--preprocess torch_rgb_01|caffe_bgr_255]
                                 [--weights FILE | --pth FILE | --save-pth FILE] [--image FILE]
"""
import argparse
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import safetensors_io  # noqa: E402

CAFFE_MEAN_BGR = (104.006, 116.669, 122.679)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SQUEEZENET_TAPS = ["conv1", "relu1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
                   "fire6", "fire7", "fire8", "fire9"]


def tap_names(net, features):
    """Names for each module of `features` in order: VGG conv/relu/pool by block, SqueezeNet Caffe names."""
    if net == "squeezenet1_1":
        return SQUEEZENET_TAPS
    names, block, index = [], 1, 0
    for module in features:
        if isinstance(module, torch.nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(module, torch.nn.ReLU):
            names.append(f"relu{block}_{index}")
        else:
            names.append(f"pool{block}")
            block, index = block + 1, 0
    return names


def build(net):
    return getattr(torchvision.models, net)().features.eval()


def normalize(rgb255, preprocess, mean_bgr=CAFFE_MEAN_BGR):
    if preprocess == "caffe_bgr_255":
        return rgb255[:, [2, 1, 0]] - torch.tensor(mean_bgr).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (rgb255 / 255.0 - mean) / std


def hooked_forward(features, names, x):
    taps = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, name=name: taps.__setitem__(name, out.detach().clone()))
               for m, name in zip(features, names)]
    features(x)
    for h in handles:
        h.remove()
    return taps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("net", choices=["vgg16", "vgg19", "squeezenet1_1"])
    parser.add_argument("out")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preprocess", default="torch_rgb_01", choices=["torch_rgb_01", "caffe_bgr_255"])
    parser.add_argument("--weights", help="use this safetensors file (and its metadata) instead of random weights")
    parser.add_argument("--pth", help="load this torchvision checkpoint (whole model state dict)")
    parser.add_argument("--save-pth", help="save the seeded random model's whole state dict here")
    parser.add_argument("--image", help="RGB 0..255 input from this safetensors file's `image` tensor [1,3,H,W]")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    features = build(args.net)
    if args.pth or args.save_pth:
        model = getattr(torchvision.models, args.net)()
        if args.save_pth:
            torch.save(model.state_dict(), args.save_pth)
        else:
            model.load_state_dict(torch.load(args.pth, map_location="cpu"))
        features, preprocess, mean_bgr = model.features.eval(), "torch_rgb_01", CAFFE_MEAN_BGR
    elif args.weights:
        state, metadata = safetensors_io.load(args.weights)
        features.load_state_dict({k[len("features."):]: v.float() for k, v in state.items()})
        preprocess = metadata["preprocess"]
        mean_bgr = tuple(float(v) for v in metadata.get("mean_bgr", "104.006,116.669,122.679").split(","))
    else:
        with torch.no_grad():  # random biases too, so a bias that fails to load shows
            for name, p in features.named_parameters():
                if name.endswith("bias"):
                    p.uniform_(-0.1, 0.1)
        preprocess, mean_bgr = args.preprocess, CAFFE_MEAN_BGR
        metadata = {"preprocess": preprocess}
        if preprocess == "caffe_bgr_255":
            metadata["mean_bgr"] = ",".join(str(v) for v in mean_bgr)
        safetensors_io.save(os.path.join(args.out, "weights.safetensors"),
                            {"features." + k: v for k, v in features.state_dict().items()}, metadata)
    if args.image:
        rgb255 = safetensors_io.load(args.image)[0]["image"].float()
    else:
        rgb255 = torch.rand(1, 3, args.size, args.size) * 255.0
    x = normalize(rgb255, preprocess, mean_bgr)
    with torch.no_grad():
        taps = hooked_forward(features, tap_names(args.net, features), x)
    tensors = {"input": rgb255, "normalized": x}
    tensors.update({"tap." + k: v for k, v in taps.items()})
    safetensors_io.save(os.path.join(args.out, "reference.safetensors"), tensors)


if __name__ == "__main__":
    main()
