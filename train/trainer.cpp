#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/runtime.h"
#include "core/signals.h"
#include "data/atomic_file.h"
#include "data/image_io.h"
#include "data/progress.h"
#include "nets/model_file.h"
#include "train/provenance.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace nst {

std::string run_config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.yaml").string(); }
std::string run_model_path(const std::string& run_dir) { return (fs::path(run_dir) / "model.safetensors").string(); }

namespace {

// loss_values with every key prefixed ("val_" for validation lines).
json loss_fields(const LossTerms& terms, const std::string& prefix) {
  json fields;
  for (const auto& [key, value] : loss_values(terms)) fields[prefix + key] = value;
  return fields;
}

bool parameters_finite(TransformerNet& net) {
  torch::NoGradGuard no_grad;
  for (const auto& p : net->parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
}

torch::Tensor load_style_image(const std::string& path, int64_t long_side) {
  cv::Mat bgr = read_image_bgr(path);
  if (long_side > 0) {
    const auto [height, width] = fit_longest_side(bgr.rows, bgr.cols, long_side);
    bgr = resize_to(bgr, cv::Size(static_cast<int>(width), static_cast<int>(height)));
  }
  return mat_to_tensor(bgr);
}

std::string loss_note(const LossTerms& terms) {
  const auto values = loss_values(terms);
  char note[96];
  std::snprintf(note, sizeof note, "loss %.4g (content %.3g style %.3g tv %.3g", values.at("total"), values.at("content"),
                values.at("style"), values.at("tv"));
  std::string text = note;
  if (values.count("temporal")) {
    std::snprintf(note, sizeof note, " temporal %.3g", values.at("temporal"));
    text += note;
  }
  return text + ")";
}

}  // namespace

Trainer::Trainer(TrainOptions options, Start start, std::string resolved_config)
    : options_(std::move(options)), resolved_config_(std::move(resolved_config)), device_(torch::kCPU) {
  options_.validate();
  const DataOptions& data = options_.data();
  train_files_ = data.file_list().empty() ? list_images(data.train_dir()) : read_file_list(data.file_list());
  const ScheduleOptions& schedule = options_.train();
  total_iterations_ = schedule.epochs() > 0
                          ? schedule.epochs() * std::max<int64_t>(1, static_cast<int64_t>(train_files_.size()) / schedule.batch_size())
                          : schedule.iterations();
  threads_ = configure_threads(static_cast<int>(schedule.threads()));
  device_ = pick_device(options_.device());
  prepare_run_directory(start);

  // Networks: the same seed gives the same initial weights (and the same random loss net in tests).
  torch::manual_seed(options_.seed());
  net_ = TransformerNet(options_.model());
  if (start == Start::fresh && !options_.init_model().empty()) start_from_model(net_, options_.init_model());
  net_->to(device_);
  perceptual_ = std::make_unique<PerceptualLoss>(make_loss_network(options_.loss(), mix_seed(options_.seed(), 1), device_),
                                                 options_.loss().weights());
  load_style_targets();
  if (options_.temporal().weight() > 0) temporal_ = std::make_unique<TemporalLoss>(options_.temporal());
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(schedule.lr()));

  log_path_ = (fs::path(options_.run_dir()) / "log.jsonl").string();
  if (start == Start::resume) {
    resume();
  } else {
    fs::remove(log_path_);  // left by an attempt that stopped before its first checkpoint
    start_loader(0);
  }
  validation_ = load_validation_set(data.val_dir().empty() ? train_files_ : list_images(data.val_dir()), data.image_size(),
                                    data.val_count());
  for (const auto& bad : validation_.skipped) std::cerr << "nst-train: warning: validation image skipped: " << bad.reason << "\n";
  if (validation_.images.defined()) validation_.images = validation_.images.to(device_);

  log_ = std::make_unique<RunLog>(log_path_);
  if (start == Start::fresh)
    log_->write({{"event", "start"}, {"iteration", 0}, {"train_images", train_files_.size()},
                 {"validation_images", validation_.names.size()}, {"threads", threads_}, {"device", device_.str()},
                 {"date", now_iso8601()}});
  if (state_.iteration >= total_iterations_)
    std::cerr << "nst-train: the run already has " << state_.iteration << " iterations (train.iterations=" << total_iterations_
              << "); to continue, raise train.iterations\n";
  if (start == Start::fresh) checkpoint();  // iteration 0: resuming is possible from the very start
  window_start_ = std::chrono::steady_clock::now();
}

void Trainer::prepare_run_directory(Start start) {
  const std::string& run_dir = options_.run_dir();
  const auto existing = list_checkpoints(run_dir);
  if (start == Start::fresh && (!existing.empty() || fs::exists(run_model_path(run_dir))))
    throw std::runtime_error(run_dir + ": already holds a run; continue it with --resume " + run_dir +
                             " or choose another run_dir");
  if (start == Start::resume && existing.empty())
    throw std::runtime_error(run_dir + ": no checkpoint to resume from (checkpoints/ckpt_*.pt)");
  fs::create_directories(fs::path(run_dir) / "previews");
  if (!resolved_config_.empty()) write_bytes_atomically(run_config_path(run_dir), resolved_config_);
}

void Trainer::load_style_targets() {
  std::vector<torch::Tensor> styles;
  for (const auto& path : options_.style_images()) styles.push_back(load_style_image(path, options_.style_size()).to(device_));
  torch::NoGradGuard no_grad;
  perceptual_->set_style_targets(styles, style_blend_for(options_.loss(), styles.size()));
}

void Trainer::resume() {
  const auto existing = list_checkpoints(options_.run_dir());
  std::string error = options_.run_dir() + ": no checkpoint to resume from (checkpoints/ckpt_*.pt)";
  bool loaded = false;
  for (auto it = existing.rbegin(); it != existing.rend() && !loaded; ++it) {  // the newest readable one
    try {
      state_ = load_checkpoint(*it, net_, *optimizer_);
      loaded = true;
      std::cerr << "nst-train: resuming " << options_.run_dir() << " from iteration " << state_.iteration << "\n";
    } catch (const std::exception& e) {
      std::cerr << "nst-train: warning: " << e.what() << "; trying an older checkpoint\n";
      error = e.what();
    }
  }
  if (!loaded) throw std::runtime_error(error);
  truncate_log(log_path_, state_.iteration);
  start_loader(state_.data_position);
}

void Trainer::start_loader(int64_t position) {
  const DataOptions& data = options_.data();
  LoaderOptions loader_options;
  loader_options.image_size = data.image_size();
  loader_options.seed = options_.seed();
  loader_options.threads = static_cast<int>(data.loader_threads());
  loader_options.queue_capacity = static_cast<int>(data.queue_size());
  loader_.reset();  // an earlier stream's threads stop first
  loader_ = std::make_unique<ImageLoader>(train_files_, loader_options, position);
}

double Trainer::learning_rate() const { return nst::learning_rate(options_.train(), state_.iteration); }

LossTerms Trainer::step() {
  const torch::Tensor batch = loader_->next_batch(options_.train().batch_size()).to(device_);
  for (const auto& bad : loader_->take_new_skipped()) {
    std::cerr << "\nnst-train: warning: skipped " << bad.reason << "\n";
    log_->write({{"event", "skipped_image"}, {"iteration", state_.iteration}, {"file", bad.path}, {"error", bad.reason}});
  }
  const double lr = learning_rate();
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

  LossTerms terms;
  {
    AutocastScope autocast(options_.train().precision(), device_);
    std::map<std::string, torch::Tensor> targets;
    {
      torch::NoGradGuard no_grad;
      targets = perceptual_->content_targets(batch);
    }
    const torch::Tensor output = net_->forward(batch);
    terms = perceptual_->compute(output, targets);
    if (temporal_) {
      // The random flow of each step follows from the seed and the iteration: a resumed run draws the same.
      terms.temporal = temporal_->compute(net_, batch, output, mix_seed(mix_seed(options_.seed(), 0x7E3D), state_.iteration));
      terms.total = terms.total + terms.temporal;
    }
  }
  const auto values = loss_values(terms);
  const double total = values.at("total");
  if (!std::isfinite(total)) {
    const auto good = list_checkpoints(options_.run_dir());
    throw std::runtime_error("loss is " + std::string(std::isnan(total) ? "NaN" : "Inf") + " at iteration " +
                             std::to_string(state_.iteration + 1) + " (content " + std::to_string(values.at("content")) +
                             ", style " + std::to_string(values.at("style")) + ", tv " + std::to_string(values.at("tv")) +
                             "); stopped; last good checkpoint: " + (good.empty() ? "none" : good.back()) +
                             "; lower train.lr or the loss weights");
  }
  optimizer_->zero_grad();
  terms.total.backward();
  optimizer_->step();
  ++state_.iteration;
  state_.data_position = loader_->position();
  ++window_iterations_;
  last_terms_ = terms;
  log_step(terms, lr);
  return terms;
}

void Trainer::log_step(const LossTerms& terms, double lr) {
  const int64_t iteration = state_.iteration;
  if (iteration % options_.train().log_every() != 0 && iteration != 1 && iteration != total_iterations_) return;
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - window_start_).count();
  json line = loss_fields(terms, "");
  line["iteration"] = iteration;
  line["epoch"] = loader_->epoch();
  line["lr"] = lr;
  line["it_per_s"] = seconds > 0 ? window_iterations_ / seconds : 0.0;
  line["images_per_s"] = seconds > 0 ? window_iterations_ * options_.train().batch_size() / seconds : 0.0;
  line["skipped_images"] = loader_->skipped_count();
  log_->write(line);
  window_start_ = now;
  window_iterations_ = 0;
}

void Trainer::validate() {
  if (!validation_.images.defined()) return;
  torch::NoGradGuard no_grad;
  net_->eval();
  json line = {{"iteration", state_.iteration}, {"phase", "validation"}};
  {
    AutocastScope autocast(options_.train().precision(), device_);
    const auto targets = perceptual_->content_targets(validation_.images);
    const torch::Tensor output = net_->forward(validation_.images).to(torch::kFloat32);
    line.update(loss_fields(perceptual_->compute(output, targets), "val_"));
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "iter_%06lld_", static_cast<long long>(state_.iteration));
    for (size_t i = 0; i < validation_.names.size(); ++i)
      write_image((fs::path(options_.run_dir()) / "previews" / (prefix + validation_.names[i] + ".jpg")).string(),
                  output[i].cpu(), 90);
  }
  net_->train();
  log_->write(line);
}

void Trainer::checkpoint() {
  if (!parameters_finite(net_))
    throw std::runtime_error("weights became NaN/Inf at iteration " + std::to_string(state_.iteration) +
                             "; last good checkpoint kept; try a lower train.lr");
  save_checkpoint(checkpoint_path(options_.run_dir(), state_.iteration), net_, *optimizer_, state_);
  prune_checkpoints(options_.run_dir(), options_.train().keep_checkpoints());
}

void Trainer::save_model() {
  TrainingOutcome outcome;
  outcome.iterations = state_.iteration;
  outcome.loss_network_preprocess = perceptual_->net()->preprocess();
  outcome.final_losses = loss_values(last_terms_);
  outcome.config_yaml = resolved_config_;
  nst::save_model(run_model_path(options_.run_dir()), net_, model_provenance(options_, outcome));
}

int Trainer::run() {
  install_stop_handlers();
  net_->train();
  Progress progress("train", total_iterations_ - std::min(state_.iteration, total_iterations_));
  window_start_ = std::chrono::steady_clock::now();
  window_iterations_ = 0;
  const ScheduleOptions& schedule = options_.train();
  while (state_.iteration < total_iterations_ && !stop_requested()) {
    progress.advance(1, loss_note(step()));
    const int64_t done = state_.iteration;
    if (schedule.validate_every() > 0 && done % schedule.validate_every() == 0 && done != total_iterations_) validate();
    if (done % schedule.checkpoint_every() == 0 && done != total_iterations_) checkpoint();
  }
  if (stop_requested()) {
    checkpoint();
    progress.finish("interrupted");
    std::cerr << "nst-train: interrupted by signal " << stop_signal() << " at iteration " << state_.iteration
              << "; checkpoint written; continue with: nst-train --resume " << options_.run_dir() << "\n";
    return kExitInterrupted;
  }
  progress.finish();
  checkpoint();  // lets a later --resume with more train.iterations continue
  validate();
  save_model();
  std::cerr << "nst-train: " << state_.iteration << " iterations done; model: " << run_model_path(options_.run_dir());
  if (loader_->skipped_count())
    std::cerr << " (" << loader_->skipped_count() << " unreadable images skipped, listed in log.jsonl)";
  std::cerr << "\n";
  return 0;
}

}  // namespace nst
