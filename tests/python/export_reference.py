"""Independent checks of nst-export's PyTorch outputs with Debian's python3-torch.

  export_reference.py torchscript MODEL.pt INPUT.safetensors OUTPUT.safetensors [--examples-names]
      torch.jit.load, .eval(), runs tensor "input" [N,3,H,W]; --examples-names also requires the
      state_dict names to be exactly pytorch/examples' TransformerNet's (transformer_reference.py).
  export_reference.py pth STATE.pth INPUT.safetensors OUTPUT.safetensors
      torch.load(weights_only=True), load_state_dict(strict=True) into the pytorch/examples mirror,
      runs it.
Prints one line and exits non-zero on any mismatch.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import safetensors_io  # noqa: E402
from transformer_reference import TransformerNet  # noqa: E402


def run(net, args):
    tensors, _ = safetensors_io.load(args.input)
    with torch.no_grad():
        output = net(tensors["input"].float())
    safetensors_io.save(args.output, {"output": output.contiguous()})


def torchscript(args):
    extra = {"nst/architecture.json": ""}
    net = torch.jit.load(args.model, map_location="cpu", _extra_files=extra)
    net.eval()  # must work like any module
    if not extra["nst/architecture.json"]:
        sys.exit(f"{args.model}: no nst/architecture.json extra file")
    if args.examples_names:
        got, want = set(net.state_dict()), set(TransformerNet().state_dict())
        if got != want:
            sys.exit(f"{args.model}: state_dict names differ from pytorch/examples: "
                     f"extra {sorted(got - want)[:3]}, missing {sorted(want - got)[:3]}")
    run(net, args)


def pth(args):
    state = torch.load(args.model, map_location="cpu", weights_only=True)
    net = TransformerNet()
    net.load_state_dict(state, strict=True)
    net.eval()
    run(net, args)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["torchscript", "pth"])
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--examples-names", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    {"torchscript": torchscript, "pth": pth}[args.kind](args)


if __name__ == "__main__":
    main()
