#include "export/torchscript_export.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <stdexcept>

#include "core/errors.h"
#include "data/atomic_file.h"

namespace nst {
namespace {

// Each scripted layer gets its own class (named after its state_dict path): the forward code bakes
// in the layer's constants, and classes saved into one file must not share a name.
torch::jit::Module new_module(const std::string& kind, const std::string& path) {
  std::string name = path.empty() ? kind : kind + "_" + path;
  for (auto& c : name)
    if (c == '.') c = '_';
  torch::jit::Module module(c10::QualifiedName("__torch__.nst." + name));
  module.register_attribute("training", c10::BoolType::get(), false);  // Python's .eval()/.train() expect it
  return module;
}

torch::Tensor value_of(TransformerNet& net, const std::string& name) {
  for (const auto& item : net->named_parameters())
    if (item.key() == name) return item.value().detach().to(torch::kCPU, torch::kFloat32).clone();
  for (const auto& item : net->named_buffers())
    if (item.key() == name) return item.value().detach().to(torch::kCPU, torch::kFloat32).clone();
  throw std::runtime_error("torchscript export: the net has no tensor '" + name + "'");
}

std::string ints(int64_t a) { return "[" + std::to_string(a) + ", " + std::to_string(a) + "]"; }

class ScriptWriter {
 public:
  explicit ScriptWriter(TransformerNet& net) : net_(net), o_(net->options()) {}

  // pytorch/examples' ConvLayer / UpsampleConvLayer (and the transposed variant).
  torch::jit::Module conv_layer(const std::string& path, int64_t kernel, int64_t stride, bool upsample) {
    const int64_t pad = kernel / 2;
    const bool transposed = upsample && o_.upsample() == UpsampleKind::transposed;
    const std::string leaf_name = transposed ? "conv_transpose2d" : "conv2d";
    auto leaf = new_module(transposed ? "ConvTranspose2d" : "Conv2d", path);
    leaf.register_parameter("weight", value_of(net_, path + "." + leaf_name + ".weight"), false);
    leaf.register_parameter("bias", value_of(net_, path + "." + leaf_name + ".bias"), false);
    const bool reflect = o_.padding() == PaddingKind::reflect;
    if (transposed)
      leaf.define("def forward(self, x):\n  return torch.conv_transpose2d(x, self.weight, self.bias, [2, 2], " +
                  ints(pad) + ", [1, 1])\n");
    else
      leaf.define("def forward(self, x):\n  return torch.conv2d(x, self.weight, self.bias, " + ints(stride) + ", " +
                  ints(reflect ? 0 : pad) + ")\n");
    auto layer = new_module("ConvLayer", path);
    layer.register_module(leaf_name, leaf);
    std::string body = "def forward(self, x):\n";
    if (upsample && !transposed) body += "  x = torch.upsample_nearest2d(x, None, [2.0, 2.0])\n";
    if (reflect && !transposed && pad > 0)
      body += "  x = torch.reflection_pad2d(x, [" + std::to_string(pad) + ", " + std::to_string(pad) + ", " +
              std::to_string(pad) + ", " + std::to_string(pad) + "])\n";
    body += "  return self." + leaf_name + ".forward(x)\n";
    layer.define(body);
    return layer;
  }

  torch::jit::Module norm(const std::string& path) {
    auto module = new_module("Norm", path);
    module.register_parameter("weight", value_of(net_, path + ".weight"), false);
    module.register_parameter("bias", value_of(net_, path + ".bias"), false);
    if (o_.norm() == NormKind::batch) {
      module.register_buffer("running_mean", value_of(net_, path + ".running_mean"));
      module.register_buffer("running_var", value_of(net_, path + ".running_var"));
      module.define(
          "def forward(self, x):\n  return torch.batch_norm(x, self.weight, self.bias, self.running_mean, "
          "self.running_var, False, 0.1, 1e-5, False)\n");
    } else {
      module.define(
          "def forward(self, x):\n  return torch.instance_norm(x, self.weight, self.bias, None, None, True, 0.1, "
          "1e-5, False)\n");
    }
    return module;
  }

  torch::jit::Module residual_block(const std::string& path) {
    auto block = new_module("ResidualBlock", path);
    block.register_module("conv1", conv_layer(path + ".conv1", 3, 1, false));
    block.register_module("in1", norm(path + ".in1"));
    block.register_module("conv2", conv_layer(path + ".conv2", 3, 1, false));
    block.register_module("in2", norm(path + ".in2"));
    block.define(
        "def forward(self, x):\n"
        "  y = torch.relu(self.in1.forward(self.conv1.forward(x)))\n"
        "  return self.in2.forward(self.conv2.forward(y)) + x\n");
    return block;
  }

  torch::jit::Module net() {
    auto root = new_module("TransformerNet", "");
    const char* stages[][2] = {{"conv1", "in1"}, {"conv2", "in2"}, {"conv3", "in3"}};
    const int64_t kernels[] = {9, 3, 3}, strides[] = {1, 2, 2};
    std::string body = "def forward(self, x):\n  y = x\n";
    for (int i = 0; i < 3; ++i) {
      root.register_module(stages[i][0], conv_layer(stages[i][0], kernels[i], strides[i], false));
      root.register_module(stages[i][1], norm(stages[i][1]));
      body += std::string("  y = torch.relu(self.") + stages[i][1] + ".forward(self." + stages[i][0] + ".forward(y)))\n";
    }
    for (int64_t i = 1; i <= o_.res_blocks(); ++i) {
      const std::string name = "res" + std::to_string(i);
      root.register_module(name, residual_block(name));
      body += "  y = self." + name + ".forward(y)\n";
    }
    root.register_module("deconv1", conv_layer("deconv1", 3, 1, true));
    root.register_module("in4", norm("in4"));
    root.register_module("deconv2", conv_layer("deconv2", 3, 1, true));
    root.register_module("in5", norm("in5"));
    root.register_module("deconv3", conv_layer("deconv3", 9, 1, false));
    body +=
        "  y = torch.relu(self.in4.forward(self.deconv1.forward(y)))\n"
        "  y = torch.relu(self.in5.forward(self.deconv2.forward(y)))\n"
        "  y = self.deconv3.forward(y)\n";
    if (o_.output() == OutputKind::tanh) body += "  y = 127.5 * (torch.tanh(y) + 1.0)\n";
    body += "  return y\n";
    root.define(body);
    return root;
  }

 private:
  TransformerNet& net_;
  const TransformerNetOptions& o_;
};

// write_atomically with LibTorch's multi-line errors cut to one line naming the file.
void write_with(const std::string& path, const std::function<void(const std::string&)>& write) {
  try {
    write_atomically(path, write);
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    throw path_error(path, "cannot write (" + message.substr(0, message.find('\n')) + ")");
  }
}

// torch.save's zip layout (data.pkl + data/N tensor records). torch::pickle_save tags the dict
// with torch.jit._pickle.restore_type_tag, which torch.load(weights_only=True) refuses; this
// writes a plain dict instead.
std::vector<char> pickle_plain(const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t size) { pickle.insert(pickle.end(), bytes, bytes + size); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    archive.insert(archive.end(), bytes, bytes + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return archive;
}

}  // namespace

torch::jit::Module to_torchscript(TransformerNet& net) {
  auto module = ScriptWriter(net).net();
  module.eval();
  return module;
}

void export_torchscript(const std::string& path, TransformerNet& net, const nlohmann::json& provenance) {
  auto module = to_torchscript(net);
  const torch::jit::ExtraFilesMap extra = {{"nst/architecture.json", net->options().to_json().dump()},
                                           {"nst/provenance.json", provenance.dump()}};
  write_with(path, [&](const std::string& tmp) { module.save(tmp, extra); });
}

void export_state_dict(const std::string& path, TransformerNet& net) {
  const auto& o = net->options();
  const std::pair<std::string, std::string> fixed[] = {
      {"norm", o.norm() == NormKind::instance ? "" : kNormChoices.name(o.norm())},
      {"upsample", o.upsample() == UpsampleKind::nearest_conv ? "" : kUpsampleChoices.name(o.upsample())},
      {"padding", o.padding() == PaddingKind::reflect ? "" : kPaddingChoices.name(o.padding())},
      {"output", o.output() == OutputKind::linear ? "" : kOutputChoices.name(o.output())}};
  for (const auto& [option, value] : fixed)
    if (!value.empty())
      throw path_error(path, "a pytorch/examples state dict cannot express model." + option + " '" + value +
                               "' (export ONNX or TorchScript instead)");
  c10::Dict<std::string, at::Tensor> state;
  for (const auto& item : net->named_parameters())  // registration order = pytorch/examples' order
    state.insert(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous().clone());
  const std::vector<char> bytes = pickle_plain(c10::IValue(state));
  write_bytes_atomically(path, std::string_view(bytes.data(), bytes.size()));
}

}  // namespace nst
