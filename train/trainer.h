// nst-train's engine: trains a TransformerNet for one style (or a blend) with perceptual losses over
// a photo folder, in a run directory holding the resolved config, checkpoints, previews, log.jsonl
// and the final model.safetensors.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "losses/perceptual_loss.h"
#include "losses/temporal_loss.h"
#include "nets/transformer_net.h"
#include "train/checkpoint.h"
#include "train/run_log.h"
#include "train/train_options.h"

namespace nst {

// Files of a run directory.
std::string run_config_path(const std::string& run_dir);  // RUN_DIR/config.yaml
std::string run_model_path(const std::string& run_dir);   // RUN_DIR/model.safetensors

class Trainer {
 public:
  enum class Start { fresh, resume };

  // Validates the options and prepares everything a step needs: the run directory (a fresh run
  // refuses one that holds a run; it writes resolved_config to RUN_DIR/config.yaml and the
  // checkpoint of iteration 0), networks, style targets, optimizer and photo stream. With
  // Start::resume it continues from the newest readable checkpoint, bitwise as an uninterrupted
  // run with the same seed, threads and data would. Throws one-line errors.
  Trainer(TrainOptions options, Start start, std::string resolved_config = "");

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
  TransformerNet& net() { return net_; }

 private:
  void prepare_run_directory(Start start);
  void load_style_targets();
  void start_loader(int64_t position);  // the photo stream from `position` on
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
  std::unique_ptr<ImageLoader> loader_;
  ValidationSet validation_;
  std::unique_ptr<RunLog> log_;
  LossTerms last_terms_;
  std::chrono::steady_clock::time_point window_start_;  // of the iterations the next log line reports
  int64_t window_iterations_ = 0;
};

}  // namespace nst
