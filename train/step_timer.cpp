#include "train/step_timer.h"

#include <torch/cuda.h>

namespace nst {
namespace {

const char* phase_name(StepPhase phase) {
  static const char* names[] = {"data", "content", "net_forward", "loss_forward", "loss_backward", "net_backward", "optimizer"};
  return names[static_cast<size_t>(phase)];
}

}  // namespace

void StepTimer::start() {
  if (device_.is_cuda()) torch::cuda::synchronize();
  last_ = std::chrono::steady_clock::now();
}

void StepTimer::mark(StepPhase done) {
  if (device_.is_cuda()) torch::cuda::synchronize();
  const auto now = std::chrono::steady_clock::now();
  seconds_[static_cast<size_t>(done)] += std::chrono::duration<double>(now - last_).count();
  last_ = now;
}

nlohmann::json StepTimer::take_means() {
  nlohmann::json means = nlohmann::json::object();
  for (size_t i = 0; i < seconds_.size(); ++i) means[phase_name(static_cast<StepPhase>(i))] = steps_ ? seconds_[i] / steps_ : 0.0;
  seconds_.fill(0.0);
  steps_ = 0;
  return means;
}

}  // namespace nst
