// nst-train's engine: trains a TransformerNet for one style (or a blend) with perceptual losses over
// a photo folder, in a run directory holding the resolved config, checkpoints, previews, log.jsonl
// and the final model.safetensors. Its default config (train_defaults_yaml) is also the schema of
// every config file and key=value override.
#pragma once
#include <string>

#include "train/config.h"

namespace nst {

// The complete default document (every valid key, with its type and default) and the keys that are
// layer -> weight maps.
const char* train_defaults_yaml();
Config make_train_config();

// Exit statuses of run_training besides 0 (finished) and errors (exceptions).
inline constexpr int kExitInterrupted = 130;  // SIGINT/SIGTERM: checkpoint written, resume with --resume

// Trains as configured. With resume, continues from the newest checkpoint in config's run_dir
// (bitwise identical to an uninterrupted run with the same seed, threads and data). Throws one-line
// errors for bad configs, missing files and NaN/Inf losses (the last good checkpoint is kept).
int run_training(Config config, bool resume);

// Files of a run directory.
std::string run_config_path(const std::string& run_dir);  // RUN_DIR/config.yaml
std::string run_model_path(const std::string& run_dir);   // RUN_DIR/model.safetensors

}  // namespace nst
