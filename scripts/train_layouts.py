#!/usr/bin/python3
"""Would channels-last activations speed up nst-train's transform net? Two measurements in PyTorch
(Debian's python3-torch: the same LibTorch 1.13 and oneDNN as nst-train), 2 threads, batch 4:

1. each convolution shape of cpu_overnight's net (width 16, 256 px crops) forward + backward,
   NCHW against channels-last, in bf16 and fp32;
2. the whole net's training step (forward, backward of a squared-output loss, bf16 autocast) with
   LibTorch's instance_norm (NCHW: it makes a channels-last input contiguous again) against an
   instance norm composed of ATen ops with its own backward, in NCHW and channels-last, and against
   a "free" norm (one elementwise pass, no statistics): the bound of what any fused norm kernel
   could save in each layout.

  scripts/train_layouts.py [--steps 10] [--rounds 2]
  scripts/train_layouts.py --profile     (the NCHW net's step in the PyTorch profiler, by op and shape)

Run it on an idle machine; docs/training.md ("Training speed") has the figures and what they say.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONVS = {  # name: (padded input [N, C, H, W], weight [O, C, k, k])
    "conv1 3->16 9x9 @256": ((4, 3, 264, 264), (16, 3, 9, 9)),
    "residual 64->64 3x3 @64": ((4, 64, 66, 66), (64, 64, 3, 3)),
    "deconv2 32->16 3x3 @256": ((4, 32, 258, 258), (16, 32, 3, 3)),
    "deconv3 16->3 9x9 @256": ((4, 16, 264, 264), (3, 16, 9, 9)),
}


def median(values):
    return sorted(values)[len(values) // 2]


def time_conv(x, w, channels_last, steps):
    if channels_last:
        x, w = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
    forward, backward = [], []
    for step in range(steps + 2):
        xx, ww = x.detach().requires_grad_(), w.detach().requires_grad_()
        start = time.perf_counter()
        y = F.conv2d(xx, ww)
        middle = time.perf_counter()
        y.backward(torch.ones_like(y))
        if step >= 2:
            forward.append(middle - start)
            backward.append(time.perf_counter() - middle)
    return median(forward) * 1e3, median(backward) * 1e3


def reflect(x, p):  # nets/transformer_net.cpp's padding, as narrow/flip/cat
    h, w = x.shape[-2:]
    rows = torch.cat([x.narrow(-2, 1, p).flip(-2), x, x.narrow(-2, h - 1 - p, p).flip(-2)], -2)
    return torch.cat([rows.narrow(-1, 1, p).flip(-1), rows, rows.narrow(-1, w - 1 - p, p).flip(-1)], -1)


class ComposedInstanceNorm(torch.autograd.Function):
    """Instance norm from var_mean/addcmul in float32 with the textbook backward: layout-agnostic."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        dtype = torch.float32 if x.dtype in (torch.bfloat16, torch.half) else x.dtype
        var, mean = torch.var_mean(x.to(dtype), dim=(2, 3), keepdim=True, unbiased=False)
        rstd = torch.rsqrt(var + 1e-5)
        scale = rstd * weight.to(dtype).view(1, -1, 1, 1)
        ctx.save_for_backward(x, mean, rstd, weight)
        return torch.addcmul(bias.to(dtype).view(1, -1, 1, 1) - mean * scale, x.to(dtype), scale).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, mean, rstd, weight = ctx.saved_tensors
        g = grad.to(mean.dtype)
        xhat = (x.to(mean.dtype) - mean) * rstd
        count = x.shape[2] * x.shape[3]
        sum_g, sum_gx = g.sum((2, 3), keepdim=True), (g * xhat).sum((2, 3), keepdim=True)
        dx = (g - sum_g / count - xhat * (sum_gx / count)) * (rstd * weight.to(mean.dtype).view(1, -1, 1, 1))
        return dx.to(x.dtype), sum_gx.sum((0, 2, 3)).to(weight.dtype), sum_g.sum((0, 2, 3)).to(weight.dtype)


class Norm(nn.Module):
    def __init__(self, channels, kind):  # kind: "libtorch", "composed" or "free"
        super().__init__()
        self.weight, self.bias, self.kind = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels)), kind

    def forward(self, x):
        if self.kind == "libtorch":
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=1e-5)
        if self.kind == "free":  # not a norm: one elementwise pass, what a perfect fused kernel would cost
            return x * self.weight.to(x.dtype).view(1, -1, 1, 1)
        with torch.autocast("cpu", enabled=False):
            return ComposedInstanceNorm.apply(x, self.weight, self.bias)


class Conv(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, upsample=False):
        super().__init__()
        self.conv, self.pad, self.upsample = nn.Conv2d(cin, cout, kernel, stride), kernel // 2, upsample

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(reflect(x, self.pad))


class Net(nn.Module):  # TransformerNet, width 16, 5 residual blocks
    def __init__(self, norm, w=16, blocks=5):
        super().__init__()
        n = lambda c: Norm(c, norm)
        self.down = nn.ModuleList([Conv(3, w, 9), n(w), Conv(w, 2 * w, 3, 2), n(2 * w), Conv(2 * w, 4 * w, 3, 2), n(4 * w)])
        self.res = nn.ModuleList([nn.ModuleList([Conv(4 * w, 4 * w, 3), n(4 * w), Conv(4 * w, 4 * w, 3), n(4 * w)]) for _ in range(blocks)])
        self.up = nn.ModuleList([Conv(4 * w, 2 * w, 3, upsample=True), n(2 * w), Conv(2 * w, w, 3, upsample=True), n(w)])
        self.out = Conv(w, 3, 9)

    def forward(self, x):
        for i in range(0, 6, 2):
            x = F.relu(self.down[i + 1](self.down[i](x)))
        for conv1, norm1, conv2, norm2 in self.res:
            x = x + norm2(conv2(F.relu(norm1(conv1(x)))))
        for i in range(0, 4, 2):
            x = F.relu(self.up[i + 1](self.up[i](x)))
        return self.out(x)


def time_net(norm, channels_last, steps):
    torch.manual_seed(0)
    net, x = Net(norm), torch.rand(4, 3, 256, 256) * 255
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    totals = []
    for step in range(steps + 2):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = net(x)
        y.float().square().mean().backward()
        if step >= 2:
            totals.append(time.perf_counter() - start)
    return median(totals)


def profile(steps):
    net, x = Net("libtorch"), torch.rand(4, 3, 256, 256) * 255

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = net(x)
        y.float().square().mean().backward()

    for _ in range(2):
        step()
    with torch.profiler.profile(record_shapes=True) as profiler:
        for _ in range(steps):
            step()
    print(f"{steps} steps:")
    print(profiler.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=30))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.profile:
        return profile(3)
    print("| convolution (batch 4) | dtype | NCHW fwd / bwd ms | channels-last fwd / bwd ms |\n| --- | --- | ---: | ---: |")
    for dtype in (torch.bfloat16, torch.float32):
        for name, (x_shape, w_shape) in CONVS.items():
            x, w = torch.randn(x_shape, dtype=dtype), torch.randn(w_shape, dtype=dtype) * 0.1
            (f1, b1), (f2, b2) = time_conv(x, w, False, args.steps), time_conv(x, w, True, args.steps)
            print(f"| {name} | {str(dtype)[6:]} | {f1:.1f} / {b1:.1f} | {f2:.1f} / {b2:.1f} |", flush=True)
    print("\n| net training step, bf16 autocast, batch 4, 256 px | s (median per round) |\n| --- | --- |")
    variants = [(f"{label} norm, {'channels-last' if channels_last else 'NCHW'}", kind, channels_last)
                for kind, label in (("libtorch", "LibTorch's"), ("composed", "composed"), ("free", "free (bound)"))
                for channels_last in (False, True)]
    results = {label: [] for label, _, _ in variants}
    for _ in range(args.rounds):  # alternating, so drift in the machine's speed hits every variant
        for label, kind, channels_last in variants:
            results[label].append(time_net(kind, channels_last, args.steps))
    for label, values in results.items():
        print(f"| {label} | {' / '.join(f'{v:.3f}' for v in values)} |")


if __name__ == "__main__":
    main()
