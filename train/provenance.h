// What a trained model records about how it was made (the model file's "provenance" metadata):
// style images with their SHA-256, loss network and weights, iterations, final losses, the config.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>

#include "train/train_options.h"

namespace nst {

std::string sha256_file(const std::string& path);  // lower-case hex
std::string sha256_bytes(std::string_view bytes);  // lower-case hex

struct TrainingOutcome {
  int64_t iterations = 0;
  std::string loss_network_preprocess;  // caffe_bgr_255 | torch_rgb_01
  std::map<std::string, double> final_losses;
  std::string config_yaml;  // the resolved config
};

nlohmann::json model_provenance(const TrainOptions& options, const TrainingOutcome& outcome);

}  // namespace nst
