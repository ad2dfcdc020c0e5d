// Where a training step's time goes: the trainer marks the end of each phase, and every log line
// reports the mean seconds per step of each phase since the previous line ("step_seconds").
// On CUDA each mark synchronizes the device (the step already synchronizes once to read its
// losses), so the figures are the device's, not the launch queue's.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <chrono>

namespace nst {

enum class StepPhase {
  data,           // next batch from the photo stream, to the device
  content,        // loss network on the photos (content targets)
  net_forward,    // transform net forward
  loss_forward,   // loss network on the output, loss terms
  loss_backward,  // gradients back through the loss network to the output
  net_backward,   // gradients through the transform net
  optimizer,      // Adam step
  count
};

class StepTimer {
 public:
  explicit StepTimer(torch::Device device) : device_(device) {}

  void start();               // the step begins
  void mark(StepPhase done);  // `done` ended now
  void end_step() { ++steps_; }
  // {"data": s, ...}: mean seconds per step of each phase since the last call; then starts a new window.
  nlohmann::json take_means();

 private:
  torch::Device device_;
  std::chrono::steady_clock::time_point last_;
  std::array<double, static_cast<size_t>(StepPhase::count)> seconds_{};
  int64_t steps_ = 0;
};

}  // namespace nst
