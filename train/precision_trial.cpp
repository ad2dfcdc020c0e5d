#include "train/precision_trial.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/runtime.h"
#include "train/train_options.h"

namespace nst {
namespace {

double time_step(TransformerNet& net, const torch::Tensor& batch, Precision precision, torch::Device device) {
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

}  // namespace

PrecisionTrial time_training_precisions(const TransformerNetOptions& options, int64_t crop, torch::Device device) {
  torch::manual_seed(0);
  TransformerNet net(options);
  net->to(device);
  net->train();
  const auto batch = (torch::rand({1, 3, crop, crop}) * 255).to(device);
  PrecisionTrial trial;
  trial.fp32_seconds = trial.bf16_seconds = 1e30;
  time_step(net, batch, Precision::fp32, device);  // warm-up: first-use allocations and kernel choice
  time_step(net, batch, Precision::bf16, device);
  for (int round = 0; round < 2; ++round) {
    trial.fp32_seconds = std::min(trial.fp32_seconds, time_step(net, batch, Precision::fp32, device));
    trial.bf16_seconds = std::min(trial.bf16_seconds, time_step(net, batch, Precision::bf16, device));
  }
  trial.faster = trial.bf16_seconds < trial.fp32_seconds ? Precision::bf16 : Precision::fp32;
  return trial;
}

void resolve_auto_precision(Config& config, std::ostream& report) {
  if (config.get_string("train.precision") != "auto") return;
  config.set("train.precision", YAML::Node("fp32"));  // any valid value, to read the other options
  const TrainOptions options = train_options_from(config);
  configure_threads(static_cast<int>(options.train().threads()));
  const int64_t crop = std::min<int64_t>(options.data().image_size(), 128);
  const PrecisionTrial trial = time_training_precisions(options.model(), crop, pick_device(options.device()));
  const std::string chosen = kPrecisionChoices.name(trial.faster);
  char line[200];
  std::snprintf(line, sizeof line, "train.precision auto: %s (a bf16 step takes %.2fx the time of an fp32 step here)",
                chosen.c_str(), trial.bf16_seconds / trial.fp32_seconds);
  report << "nst-train: " << line << "\n";
  config.set("train.precision", YAML::Node(chosen));
}

}  // namespace nst
