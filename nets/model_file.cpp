#include "nets/model_file.h"

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"
#include "data/json_strict.h"
#include "data/safetensors.h"

namespace nst {
namespace {

// "a, b, c and N more": keeps one-line messages short for badly mismatched files.
std::string name_list(const std::vector<std::string>& names) {
  std::string text;
  const size_t shown = std::min<size_t>(names.size(), 4);
  for (size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > shown) text += " and " + std::to_string(names.size() - shown) + " more";
  return text;
}

// Every parameter and buffer of a net with these options, by state_dict name.
std::map<std::string, torch::Tensor> expected_tensors(TransformerNet& net) {
  std::map<std::string, torch::Tensor> expected;
  for (const auto& item : net->named_parameters()) expected[item.key()] = item.value();
  for (const auto& item : net->named_buffers()) expected[item.key()] = item.value();
  return expected;
}

// Files without our metadata (e.g. pytorch/examples weights converted by other tools): infer the
// options that tensor names and shapes reveal; the rest stay at pytorch/examples' defaults.
TransformerNetOptions guess_architecture(const std::map<std::string, torch::Tensor>& tensors) {
  TransformerNetOptions options;
  auto conv1 = tensors.find("conv1.conv2d.weight");
  if (conv1 != tensors.end() && conv1->second.dim() == 4) options.width(conv1->second.size(0));
  const std::regex residual(R"(res(\d{1,6})\.conv1\.conv2d\.weight)");  // at most 6 digits: stoll cannot overflow
  int64_t blocks = 0;
  for (const auto& [name, tensor] : tensors) {
    std::smatch match;
    if (std::regex_match(name, match, residual)) blocks = std::max<int64_t>(blocks, std::stoll(match[1]));
  }
  options.res_blocks(blocks);
  if (tensors.count("deconv1.conv_transpose2d.weight")) options.upsample(UpsampleKind::transposed);
  return options;
}

// The shape of every tensor of a net with these options, from two tiny nets of the same topology
// (each channel count is a constant or grows linearly with the width): metadata that disagrees
// with the tensors is found before a net of its size exists ({"width":1024,"res_blocks":64} ~78 GB).
std::map<std::string, std::vector<int64_t>> expected_shapes(const TransformerNetOptions& options) {
  TransformerNetOptions one = options, two = options;
  TransformerNet narrow(one.width(1)), wider(two.width(2));
  const auto at_one = expected_tensors(narrow), at_two = expected_tensors(wider);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, tensor] : at_one) {
    std::vector<int64_t> shape = tensor.sizes().vec();
    const auto step = at_two.at(name).sizes();
    for (size_t d = 0; d < shape.size(); ++d) shape[d] += (step[d] - shape[d]) * (options.width() - 1);
    shapes[name] = shape;
  }
  return shapes;
}

bool is_running_statistic(const std::string& name) {
  for (const char* suffix : {".running_mean", ".running_var", ".num_batches_tracked"}) {
    const std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) return true;
  }
  return false;
}

}  // namespace

void save_model(const std::string& path, TransformerNet& net, const nlohmann::json& provenance) {
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, tensor] : expected_tensors(net)) {
    auto value = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    // A non-finite model is unusable; refuse rather than write a file that will not load.
    if (!torch::isfinite(value).all().item<bool>())
      throw path_error(path, "refusing to save: tensor '" + name + "' has NaN or infinite values");
    tensors[name] = value;
  }
  write_safetensors(path, tensors,
                    {{"format", kModelFormat},
                     {"format_version", std::to_string(kModelFormatVersion)},
                     {"architecture", net->options().to_json().dump()},
                     {"provenance", provenance.dump()}});
}

namespace {

// A file with our metadata: checks format and version, reads the architecture and the provenance.
TransformerNetOptions read_metadata(const std::string& path, const SafeTensors& file, LoadedModel& model) {
  TransformerNetOptions options;
  const std::string& format = file.metadata.at("format");
  if (format != kModelFormat)
    throw path_error(path, "not a style model: format '" + format + "', expected '" + kModelFormat + "'");
  const auto version = file.metadata.find("format_version");
  if (version == file.metadata.end()) throw path_error(path, "format_version missing from the metadata");
  int number = 0;
  try {
    size_t used = 0;
    number = std::stoi(version->second, &used);
    if (used != version->second.size()) throw std::invalid_argument("trailing text");
  } catch (const std::exception&) {
    throw path_error(path, "format_version '" + version->second + "' is not a number");
  }
  if (number < 1 || number > kModelFormatVersion)
    throw path_error(path, "format version " + std::to_string(number) + " is not supported (this build reads version " +
                         std::to_string(kModelFormatVersion) + "; newer file?)");
  const auto architecture = file.metadata.find("architecture");
  if (architecture == file.metadata.end()) throw path_error(path, "architecture missing from the metadata");
  try {
    options = TransformerNetOptions::from_json(parse_json_strict(architecture->second));
  } catch (const std::exception& e) {
    throw path_error(path, std::string("bad architecture metadata: ") + e.what());
  }
  const auto provenance = file.metadata.find("provenance");
  if (provenance != file.metadata.end()) {
    try {
      model.provenance = parse_json_strict(provenance->second);
    } catch (const std::exception& e) {
      throw path_error(path, "provenance metadata is not valid JSON (" + first_line(e.what()) + ")");
    }
  }
  return options;
}

}  // namespace

LoadedModel load_model(const std::string& path) {
  SafeTensors file = read_safetensors(path);
  LoadedModel model;

  TransformerNetOptions options;
  if (!file.metadata.count("format")) {
    options = guess_architecture(file.tensors);
    model.warnings.push_back(path + ": no nst metadata (plain pytorch/examples weights?); assuming architecture " +
                             options.to_json().dump());
  } else {
    options = read_metadata(path, file, model);
  }

  std::map<std::string, std::vector<int64_t>> expected;
  try {
    options.validate();
    expected = expected_shapes(options);
  } catch (const std::runtime_error& e) {
    throw path_error(path, e.what());
  }

  // Old pytorch/examples checkpoints (PyTorch < 0.4 InstanceNorm) carry running statistics the
  // instance norm never uses: drop them. A batch-norm net keeps the ones it has.
  std::vector<std::string> dropped;
  for (auto it = file.tensors.begin(); it != file.tensors.end();) {
    if (!expected.count(it->first) && is_running_statistic(it->first)) {
      dropped.push_back(it->first);
      it = file.tensors.erase(it);
    } else {
      ++it;
    }
  }
  if (!dropped.empty())
    model.warnings.push_back(path + ": ignored " + std::to_string(dropped.size()) +
                             " stale running statistics tensors (" + name_list(dropped) + ")");

  std::vector<std::string> missing, unknown;
  for (const auto& [name, shape] : expected)
    if (!file.tensors.count(name)) missing.push_back(name);
  for (const auto& [name, tensor] : file.tensors)
    if (!expected.count(name)) unknown.push_back(name);
  const std::string arch = " for architecture " + options.to_json().dump();
  if (!missing.empty())
    throw path_error(path, std::to_string(missing.size()) + " tensors missing" + arch + ": " + name_list(missing));
  if (!unknown.empty())
    throw path_error(path, std::to_string(unknown.size()) + " unknown tensors" + arch + ": " + name_list(unknown));
  for (const auto& [name, shape] : expected)
    if (file.tensors.at(name).sizes().vec() != shape)
      throw path_error(path, "tensor '" + name + "' has shape " + shape_text(file.tensors.at(name).sizes()) + ", expected " +
                           shape_text(shape) + arch);

  model.net = TransformerNet(options);
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : expected_tensors(model.net)) {
    const auto& stored = file.tensors.at(name);
    if (!stored.is_floating_point())
      throw path_error(path, "tensor '" + name + "' has integer dtype " + std::string(c10::toString(stored.scalar_type())) +
                           " (expected F32, F16 or BF16)");
    auto value = stored.to(torch::kFloat32);
    if (!torch::isfinite(value).all().item<bool>()) throw path_error(path, "tensor '" + name + "' has NaN or infinite values");
    target.copy_(value);
  }
  model.net->eval();
  return model;
}

void start_from_model(TransformerNet& net, const std::string& path) {
  const LoadedModel model = load_model(path);
  const auto file_architecture = model.net->options().to_json(), net_architecture = net->options().to_json();
  if (file_architecture != net_architecture)
    throw path_error(path, "architecture " + file_architecture.dump() + " differs from the net's " + net_architecture.dump() +
                               " (set model.* to the file's)");
  torch::NoGradGuard no_grad;
  const auto source = model.net->named_parameters(), source_buffers = model.net->named_buffers();
  for (auto& item : net->named_parameters()) item.value().copy_(source[item.key()]);
  for (auto& item : net->named_buffers()) item.value().copy_(source_buffers[item.key()]);
}

}  // namespace nst
