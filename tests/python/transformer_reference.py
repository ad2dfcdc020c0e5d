"""Independent reference for the C++ TransformerNet: pytorch/examples fast_neural_style's
transformer_net.py, layer for layer (ReflectionPad2d + Conv2d, InstanceNorm2d(affine), nearest
interpolate + conv for upsampling), run by Debian's python3-torch.

  transformer_reference.py make-checkpoint OUT.pth [--seed S] [--stale-stats]
      random weights (norm affines and the last conv scaled so the output spans ~0..255), saved
      with torch.save like pytorch/examples' checkpoints; --stale-stats adds the running_mean /
      running_var keys that old (PyTorch < 0.4) checkpoints carry.
  transformer_reference.py forward CHECKPOINT.pth INPUT.safetensors OUTPUT.safetensors
      runs the net on tensor "input" [N,3,H,W] (0..255) and writes tensor "output".
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import safetensors_io  # noqa: E402


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = torch.nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def make_checkpoint(args):
    torch.manual_seed(args.seed)
    net = TransformerNet()
    with torch.no_grad():
        for name, module in net.named_modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        # Default init gives outputs of a few units; scale the last conv so the comparison is
        # made on the 0..255 range a trained net produces.
        net.deconv3.conv2d.weight.mul_(60.0)
        net.deconv3.conv2d.bias.add_(128.0)
    state = net.state_dict()
    if args.stale_stats:
        for name, module in net.named_modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                state[name + ".running_mean"] = torch.zeros(module.num_features)
                state[name + ".running_var"] = torch.ones(module.num_features)
    torch.save(state, args.out)


def forward(args):
    state = torch.load(args.checkpoint, map_location="cpu")
    # As pytorch/examples' neural_style.py: drop the deprecated running statistics.
    state = {k: v for k, v in state.items() if not (k.endswith(".running_mean") or k.endswith(".running_var"))}
    net = TransformerNet()
    net.load_state_dict(state)
    net.eval()
    tensors, _ = safetensors_io.load(args.input)
    with torch.no_grad():
        output = net(tensors["input"].float())
    safetensors_io.save(args.output, {"output": output})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make-checkpoint")
    make.add_argument("out")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--stale-stats", action="store_true")
    fwd = sub.add_parser("forward")
    fwd.add_argument("checkpoint")
    fwd.add_argument("input")
    fwd.add_argument("output")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"make-checkpoint": make_checkpoint, "forward": forward}[args.command](args)


if __name__ == "__main__":
    main()
