// nst-train's engine: trains a TransformerNet for one style (or a blend) with perceptual losses over
// a photo folder, in a run directory holding the resolved config, checkpoints, previews, log.jsonl
// and the final model.safetensors.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/signals.h"
#include "data/dataset.h"
#include "losses/perceptual_loss.h"
#include "losses/temporal_loss.h"
#include "nets/transformer_net.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/run_log.h"
#include "train/step_timer.h"
#include "train/train_options.h"

namespace nst {

// Files of a run directory.
std::string run_config_path(const std::string& run_dir);  // RUN_DIR/config.yaml
std::string run_model_path(const std::string& run_dir);   // RUN_DIR/model.safetensors

// A style image as the trainer sees it: RGB 0..255 [3,H,W], its longest side long_side (0 = as is).
torch::Tensor load_style_image(const std::string& path, int64_t long_side);

// Data-parallel training (docs/scaling.md): this process is one rank of `launch`.
struct DataParallelOptions {
  LaunchEnvironment launch;
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};  // of every collective and the rendezvous
};

class Trainer {
 public:
  enum class Start { fresh, resume };

  // Validates the options and prepares everything a step needs: the run directory (a fresh run
  // refuses one that holds a run; it writes resolved_config to RUN_DIR/config.yaml and the
  // checkpoint of iteration 0), networks, style targets, optimizer and photo stream. With
  // Start::resume it continues from the newest readable checkpoint, bitwise as an uninterrupted
  // run with the same seed, threads and data would. Throws one-line errors.
  // With `parallel`, this process is one rank of a data-parallel run: it computes the gradients of
  // its slice of each global batch (train.batch_size), averaged over the ranks before each step;
  // rank 0 alone writes the run directory, which every rank reads to resume.
  Trainer(TrainOptions options, Start start, std::string resolved_config = "",
          std::optional<DataParallelOptions> parallel = std::nullopt);

  // Trains up to the configured iterations or a stop signal; at the end writes the last
  // checkpoint, validates and writes the model. Returns 0, or kExitInterrupted after a signal
  // (checkpoint written). NaN/Inf losses throw; the last good checkpoint is kept.
  int run();

  // One optimizer step on the next batch; returns its losses (throws for NaN/Inf).
  LossTerms step();
  // Validation losses (log.jsonl) and previews (RUN_DIR/previews) at the current iteration.
  void validate();
  // RUN_DIR/checkpoints/ckpt_<iteration>.pt, keeping the newest train.keep_checkpoints.
  void checkpoint();
  // Restores net, optimizer, RNG and data position from the newest readable checkpoint.
  void resume();
  // RUN_DIR/model.safetensors with the provenance of the run.
  void save_model();

  int64_t iteration() const { return state_.iteration; }
  int64_t total_iterations() const { return total_iterations_; }  // train.iterations, or from train.epochs
  double learning_rate() const;  // of the next step
  size_t train_image_count() const { return train_files_.size(); }
  const TrainOptions& options() const { return options_; }
  bool writes_run_directory() const { return !group_ || group_->is_main(); }
  TransformerNet& net() { return net_; }

 private:
  Start check_run_directory(Start start);  // the start to make: a run with no checkpoint yet starts afresh
  void prepare_run_directory(Start start);  // written only once every input has been read
  void load_style_targets();
  void start_loader(int64_t position);  // the photo stream from `position` on
  torch::Tensor next_batch();           // this process's batch (its slice, data-parallel)
  LossTerms average_over_ranks(const LossTerms& terms);  // gradients and losses; agrees on stopping
  void throw_if_not_finite(const LossTerms& terms) const;
  bool stopping() const { return group_ ? stop_agreed_ : stop_requested(); }
  void log_step(const LossTerms& terms, double lr);

  TrainOptions options_;
  std::string resolved_config_, log_path_;
  std::vector<std::string> train_files_;
  int64_t total_iterations_ = 0;
  int threads_ = 0;
  torch::Device device_;
  TransformerNet net_{nullptr};
  std::unique_ptr<PerceptualLoss> perceptual_;
  std::unique_ptr<TemporalLoss> temporal_;  // null when loss.temporal.weight is 0
  std::unique_ptr<torch::optim::Adam> optimizer_;
  CheckpointState state_;
  std::unique_ptr<ImageLoader> loader_;        // one process, or
  std::unique_ptr<DataParallelGroup> group_;   // data-parallel: the ranks
  std::unique_ptr<ShardedBatches> sharded_;    //   and this rank's slices
  bool stop_agreed_ = false;                   //   a rank asked to stop: all stop after this step
  ValidationSet validation_;
  std::unique_ptr<RunLog> log_;
  LossTerms last_terms_;
  std::chrono::steady_clock::time_point window_start_;  // of the iterations the next log line reports
  int64_t window_iterations_ = 0;
  StepTimer timer_{torch::kCPU};  // phases of the steps the next log line reports
  double window_communication_ = 0;  // communication seconds at the window's start
};

}  // namespace nst
