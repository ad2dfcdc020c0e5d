"""Reference perceptual losses computed with torchvision's own `features` and plain PyTorch autograd.

Reads WEIGHTS (a features safetensors file with preprocess metadata) and INPUTS (safetensors with
`output` [N,3,H,W], `content` [N or 1,3,H,W], `style0`, `style1`, ... [1,3,h,w], all RGB 0..255) and a
JSON config {"net", "content_layers": {layer: w}, "style_layers": {layer: w}, "content_weight",
"style_weight", "tv_weight", "blend": [w0, w1, ...], optional "style_normalize": "none" | "auto"}. Writes OUT (safetensors): `total`, `content`,
`style`, `tv`, `content.LAYER`, `style.LAYER` (weighted by the layer weight only), `gram.LAYER`
(blended style targets) and `grad` (d total / d output).

Definitions (as in docs/loss-networks.md):
  gram(F) = F F^T / (C*H*W);  content = cw * sum_l w_l mse(F_l(out), F_l(content));
  style = sw * sum_l w_l mse(gram(F_l(out)), sum_i b_i gram(F_l(style_i)) / sum_i b_i);
  tv = tvw * (mean(((x[i+1,j]-x[i,j])/255)^2) + mean(((x[i,j+1]-x[i,j])/255)^2));
  with style_normalize "auto", each style layer's w_l is divided by mean(target_l^2).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import safetensors_io  # noqa: E402
from loss_network_reference import build, normalize, tap_names  # noqa: E402


def gram(f):
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def total_variation(x):
    x = x / 255.0
    return ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).mean() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).mean()


def main():
    weights_path, inputs_path, config_text, out_path = sys.argv[1:5]
    config = json.loads(config_text)
    torch.set_num_threads(1)
    features = build(config["net"])
    for m in features.modules():  # autograd through taps needs out-of-place ReLUs
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    state, metadata = safetensors_io.load(weights_path)
    features.load_state_dict({k[len("features."):]: v.float() for k, v in state.items()})
    for p in features.parameters():
        p.requires_grad_(False)
    mean_bgr = tuple(float(v) for v in metadata.get("mean_bgr", "104.006,116.669,122.679").split(","))
    names = tap_names(config["net"], features)

    wanted = set(config["content_layers"]) | set(config["style_layers"])
    deepest = max(names.index(layer) for layer in wanted)

    def taps(rgb255):  # only as deep as needed, so small style images work
        out, x = {}, normalize(rgb255, metadata["preprocess"], mean_bgr)
        for module, name in list(zip(features, names))[:deepest + 1]:
            x = module(x)
            out[name] = x
        return out

    inputs, _ = safetensors_io.load(inputs_path)
    result = {}
    blend = config["blend"]
    with torch.no_grad():
        content_targets = taps(inputs["content"])
        grams = {}
        for i, b in enumerate(blend):
            style_taps = taps(inputs[f"style{i}"])
            for layer in config["style_layers"]:
                g = gram(style_taps[layer]) * (b / sum(blend))
                grams[layer] = grams[layer] + g if layer in grams else g
    output = inputs["output"].clone().requires_grad_(True)
    ours = taps(output)
    content = torch.zeros(())
    for layer, w in config["content_layers"].items():
        target = content_targets[layer].expand_as(ours[layer])
        term = torch.nn.functional.mse_loss(ours[layer], target) * w
        result["content." + layer] = term.detach()
        content = content + term
    style = torch.zeros(())
    for layer, w in config["style_layers"].items():
        if config.get("style_normalize", "none") == "auto":
            w = w / float((grams[layer] ** 2).mean())
        g = gram(ours[layer])
        term = torch.nn.functional.mse_loss(g, grams[layer].expand_as(g)) * w
        result["style." + layer] = term.detach()
        result["gram." + layer] = grams[layer]
        style = style + term
    content = content * config["content_weight"]
    style = style * config["style_weight"]
    tv = total_variation(output) * config["tv_weight"]
    total = content + style + tv
    total.backward()
    result.update({"total": total.detach(), "content": content.detach(), "style": style.detach(), "tv": tv.detach(),
                   "grad": output.grad})
    # scalars as [1]: safetensors_io cannot store 0-dim tensors
    safetensors_io.save(out_path, {k: v.reshape(-1) if v.dim() == 0 else v for k, v in result.items()})


if __name__ == "__main__":
    main()
