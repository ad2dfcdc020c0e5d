// nst-train's configuration: the default document (every valid key, its type and default: the
// schema of config files and key=value overrides) and the typed options the Trainer is built from,
// read from a Config once at the tool's entry. A new key is a line in train_defaults_yaml, a field
// below and a line in train_options_from.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "core/choices.h"
#include "core/precision.h"
#include "losses/loss_options.h"
#include "losses/temporal_loss.h"
#include "nets/transformer_net.h"

namespace nst {

const char* train_defaults_yaml();
Config make_train_config();

// Paths in the saved config are absolute, so `--resume` works from any working directory.
void make_paths_absolute(Config& config);

enum class LrSchedule { constant, step };
inline const Choices<LrSchedule> kLrScheduleChoices{{"constant", LrSchedule::constant}, {"step", LrSchedule::step}};

// data.*
struct DataOptions {
  TORCH_ARG(std::string, train_dir);  // folder of photos (recursive), or
  TORCH_ARG(std::string, file_list);  // a text file of image paths
  TORCH_ARG(std::string, val_dir);    // "" = the first val_count training photos
  TORCH_ARG(int64_t, val_count) = 0;
  TORCH_ARG(int64_t, image_size) = 0;
  TORCH_ARG(int64_t, loader_threads) = 0;
  TORCH_ARG(int64_t, queue_size) = 0;
};

// train.*
// The most optimizer steps a run may take (also the bound a checkpoint's iteration is checked
// against): beyond it epochs x photos overflows into runs that never end.
constexpr int64_t kMaxIterations = 1'000'000'000;

struct ScheduleOptions {
  TORCH_ARG(int64_t, iterations) = 0;
  TORCH_ARG(int64_t, epochs) = 0;  // > 0: replaces iterations by epochs * (images / batch_size)
  TORCH_ARG(int64_t, batch_size) = 0;
  TORCH_ARG(double, lr) = 0;
  TORCH_ARG(LrSchedule, lr_schedule) = LrSchedule::constant;
  TORCH_ARG(int64_t, lr_step) = 0;  // step: lr * lr_gamma^(iteration / lr_step)
  TORCH_ARG(double, lr_gamma) = 0;
  TORCH_ARG(int64_t, checkpoint_every) = 0;
  TORCH_ARG(int64_t, keep_checkpoints) = 0;
  TORCH_ARG(int64_t, validate_every) = 0;  // 0 = only at the end
  TORCH_ARG(int64_t, log_every) = 0;
  TORCH_ARG(Precision, precision) = Precision::fp32;
  TORCH_ARG(int64_t, loss_jitter) = 0;  // pixels (losses/loss_jitter.h)
  TORCH_ARG(int64_t, threads) = 0;  // 0 = all available cores
};

// The whole run. Filled by train_options_from (the defaults are train_defaults_yaml()); the Trainer
// validates it.
struct TrainOptions {
  TORCH_ARG(std::string, run_dir);
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(std::string, device) = "auto";
  TORCH_ARG(DataOptions, data);
  TORCH_ARG(std::vector<std::string>, style_images);  // style.images
  TORCH_ARG(int64_t, style_size) = 0;                 // style.size: long side (0 = as they are)
  TORCH_ARG(TransformerNetOptions, model);
  TORCH_ARG(std::string, init_model);                 // model.init: start from this model file ("" = random)
  TORCH_ARG(LossOptions, loss);                       // loss_network.*, loss.*, style.weights
  TORCH_ARG(TemporalLossOptions, temporal);           // loss.temporal.* (training only)
  TORCH_ARG(ScheduleOptions, train);

 public:
  void validate() const;  // throws "config: KEY must ..." for the first bad value
};

TrainOptions train_options_from(const Config& config);

// The learning rate at `iteration` (0-based: the rate of the step that makes iteration + 1).
double learning_rate(const ScheduleOptions& schedule, int64_t iteration);

}  // namespace nst
