// A style model as TorchScript (.pt) and as a pytorch/examples state dict (.pth), written from C++.
// LibTorch C++ cannot trace an nn::Module and torch::save of one keeps no forward(), so the
// TorchScript module is rebuilt: a torch::jit::Module per layer with the same parameters and a
// forward() defined in TorchScript source. Python's torch.jit.load runs it; its state_dict has
// pytorch/examples' names (conv1.conv2d.weight, in1.weight, res1.conv1.conv2d.weight, ...).
#pragma once
#include <nlohmann/json.hpp>
#include <torch/script.h>

#include <string>

#include "nets/transformer_net.h"

namespace nst {

// The scripted twin of `net` (every architecture option), float32 on the CPU, eval mode.
// Input and output are RGB 0..255 [N,3,H,W]; H and W multiples of 4 and at least 16.
torch::jit::Module to_torchscript(TransformerNet& net);

// to_torchscript saved atomically, with the architecture and provenance as extra files
// "nst/architecture.json" and "nst/provenance.json". Errors are "PATH: problem".
void export_torchscript(const std::string& path, TransformerNet& net, const nlohmann::json& provenance);

// The net's state dict as a file torch.load reads (also with weights_only=True): a dict of float32
// tensors named as pytorch/examples' TransformerNet. Refuses, naming the option, architectures
// pytorch/examples and scripts/import_pytorch_model.py cannot express (batch norm, transposed
// upsampling, zero padding, tanh output); width and residual blocks may differ.
void export_state_dict(const std::string& path, TransformerNet& net);

}  // namespace nst
