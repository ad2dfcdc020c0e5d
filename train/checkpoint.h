// Training checkpoints: model parameters and buffers, optimizer state, iteration, data-stream
// position and the torch CPU RNG state in one torch::serialize archive, written atomically to
// RUN_DIR/checkpoints/ckpt_<iteration>.pt with a SHA-256 trailer; the newest K are kept.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "nets/transformer_net.h"

namespace nst {

struct CheckpointState {
  int64_t iteration = 0;      // optimizer steps completed
  int64_t data_position = 0;  // ImageLoader::position() after the last step
  std::vector<std::string> warnings;  // from loading: e.g. a file without a checksum
};

std::string checkpoint_path(const std::string& run_dir, int64_t iteration);
std::vector<std::string> list_checkpoints(const std::string& run_dir);  // oldest first

void save_checkpoint(const std::string& path, TransformerNet& net, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state);
// Restores net, optimizer and RNG; throws "PATH: problem" for an unreadable, damaged (checksum) or
// mismatched file, or one whose values are out of range.
CheckpointState load_checkpoint(const std::string& path, TransformerNet& net, torch::optim::Optimizer& optimizer);

// Deletes all but the newest `keep` checkpoints (keep >= 1).
void prune_checkpoints(const std::string& run_dir, int64_t keep);

}  // namespace nst
