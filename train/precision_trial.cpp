#include "train/precision_trial.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>

#include "core/runtime.h"
#include "train/train_options.h"

namespace nst {

double time_training_step(TransformerNet& net, const torch::Tensor& batch, Precision precision, torch::Device device) {
  const auto start = std::chrono::steady_clock::now();
  torch::Tensor loss;
  {
    AutocastScope autocast(precision, device);
    loss = net->forward(batch).to(torch::kFloat32).square().mean();
  }
  loss.backward();
  if (device.is_cuda()) torch::cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void resolve_auto_precision(Config& config, std::ostream& report, const std::string& cache_directory) {
  if (config.get_string("train.precision") != "auto") return;
  config.set("train.precision", YAML::Node("fp32"));  // any valid value, to read the other options
  const TrainOptions options = train_options_from(config);
  configure_threads(static_cast<int>(options.train().threads()));
  const int64_t crop = std::min<int64_t>(options.data().image_size(), 128);
  const torch::Device device = pick_device(options.device());
  torch::manual_seed(0);
  TransformerNet net(options.model());
  net->to(device);
  net->train();
  const auto batch = (torch::rand({1, 3, crop, crop}) * 255).to(device);
  const std::string workload =
      "nst-train step of net " + options.model().to_json().dump() + " on " + std::to_string(crop) + " px crops";
  const Precision chosen = choose_precision(
      "nst-train", "train.precision", workload, device, [&](Precision p) { return time_training_step(net, batch, p, device); }, report,
      cache_directory);
  config.set("train.precision", YAML::Node(kPrecisionChoices.name(chosen)));
}

}  // namespace nst
