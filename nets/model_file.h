// The trained-style model file: a safetensors container whose tensor names equal pytorch/examples'
// TransformerNet state_dict names, with __metadata__ holding the format name and version, the
// architecture (JSON) and provenance (JSON). Loading validates everything before use.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "nets/transformer_net.h"

namespace nst {

inline constexpr const char* kModelFormat = "nst-transformer-net";
inline constexpr int kModelFormatVersion = 1;

struct LoadedModel {
  TransformerNet net{nullptr};        // on CPU, float32, eval mode
  nlohmann::json provenance;          // style images, loss network, loss weights, iterations, date, config...
  std::vector<std::string> warnings;  // e.g. dropped stale running_mean/running_var keys
};

// Writes the net's parameters and buffers as F32 (atomically) with architecture and provenance.
void save_model(const std::string& path, TransformerNet& net, const nlohmann::json& provenance);

// Reads and validates: container, format/version, architecture, every expected tensor present with
// the right shape, no unknown tensors, finite values; F32/F16/BF16 accepted. Throws "PATH: problem".
LoadedModel load_model(const std::string& path);

// Fine-tuning: loads `path` (validated as above) into `net`, whose architecture must be the file's
// (otherwise "PATH: architecture {...} differs from the net's {...}"). Parameters and buffers are copied.
void start_from_model(TransformerNet& net, const std::string& path);

}  // namespace nst
