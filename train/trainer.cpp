#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <sstream>

#include "core/errors.h"
#include "core/runtime.h"
#include "core/signals.h"
#include "data/atomic_file.h"
#include "data/image_io.h"
#include "data/progress.h"
#include "losses/loss_jitter.h"
#include "nets/model_file.h"
#include "train/provenance.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace nst {

std::string run_config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.yaml").string(); }
std::string run_model_path(const std::string& run_dir) { return (fs::path(run_dir) / "model.safetensors").string(); }

torch::Tensor load_style_image(const std::string& path, int64_t long_side) {
  cv::Mat bgr = read_image_bgr(path);
  if (long_side > 0) {
    const auto [height, width] = fit_longest_side(bgr.rows, bgr.cols, long_side);
    bgr = resize_to(bgr, cv::Size(static_cast<int>(width), static_cast<int>(height)));
  }
  return mat_to_tensor(bgr);
}

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

// model.init (if given) into a fresh net; errors name the key, as a relative path depends on the
// working directory.
void start_from_init_model(TransformerNet& net, const std::string& path) {
  if (path.empty()) return;
  try {
    start_from_model(net, path);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("model.init: ") + e.what());
  }
}

}  // namespace

Trainer::Trainer(TrainOptions options, Start start, std::string resolved_config, std::optional<DataParallelOptions> parallel)
    : options_(std::move(options)), resolved_config_(std::move(resolved_config)), device_(torch::kCPU) {
  options_.validate();
  const DataOptions& data = options_.data();
  train_files_ = data.file_list().empty() ? list_images(data.train_dir()) : read_file_list(data.file_list());
  const ScheduleOptions& schedule = options_.train();
  total_iterations_ = schedule.epochs() > 0
                          ? schedule.epochs() * std::max<int64_t>(1, static_cast<int64_t>(train_files_.size()) / schedule.batch_size())
                          : schedule.iterations();
  if (total_iterations_ > kMaxIterations)
    throw std::runtime_error("config: train.epochs=" + std::to_string(schedule.epochs()) + " over " +
                             std::to_string(train_files_.size()) + " photos makes " + std::to_string(total_iterations_) +
                             " iterations; at most " + std::to_string(kMaxIterations));
  device_ = pick_device(options_.device());
  if (parallel) {
    const LaunchEnvironment& launch = parallel->launch;
    if (schedule.batch_size() % launch.world_size != 0)
      throw std::runtime_error("config: train.batch_size (" + std::to_string(schedule.batch_size()) +
                               ") must be divisible by the number of ranks (WORLD_SIZE " + std::to_string(launch.world_size) + ")");
    // "all cores" is shared by the ranks of one machine; one GPU per rank of a machine.
    threads_ = configure_threads(schedule.threads() > 0 ? static_cast<int>(schedule.threads())
                                                        : std::max(1, available_cores() / launch.local_world_size));
    if (device_.is_cuda() && !device_.has_index()) device_ = torch::Device(torch::kCUDA, static_cast<int8_t>(launch.local_rank));
    group_ = std::make_unique<DataParallelGroup>(launch, device_, parallel->timeout);
  } else {
    threads_ = configure_threads(static_cast<int>(schedule.threads()));
  }
  timer_ = StepTimer(device_);
  if (const auto warning = bf16_warning(options_.train().precision(), device_); !warning.empty())
    std::cerr << "nst-train: warning: " << warning << " (or train.precision=auto)\n";
  start = check_run_directory(start);

  // Networks: the same seed gives the same initial weights (and the same random loss net in tests).
  torch::manual_seed(options_.seed());
  net_ = TransformerNet(options_.model());
  if (start == Start::fresh) start_from_init_model(net_, options_.init_model());
  net_->to(device_);
  perceptual_ = std::make_unique<PerceptualLoss>(make_loss_network(options_.loss(), mix_seed(options_.seed(), 1), device_),
                                                 options_.loss().weights());
  load_style_targets();
  if (options_.temporal().weight() > 0) temporal_ = std::make_unique<TemporalLoss>(options_.temporal());
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(schedule.lr()));
  prepare_run_directory(start);  // after every input was read: a bad one leaves no half-made run behind

  log_path_ = (fs::path(options_.run_dir()) / "log.jsonl").string();
  if (start == Start::resume) {
    resume();
  } else {
    if (writes_run_directory()) fs::remove(log_path_);  // left by an attempt that stopped before its first checkpoint
    start_loader(0);
  }
  if (group_) {  // every rank starts from the same iteration and weights
    group_->expect_same(state_.iteration, "the checkpoint iteration resumed from (is RUN_DIR the same on every rank?)");
    group_->broadcast_from_main(net_->parameters());
  }
  if (!writes_run_directory()) return;  // validation, log and checkpoints are rank 0's
  validation_ = load_validation_set(data.val_dir().empty() ? train_files_ : list_images(data.val_dir()), data.image_size(),
                                    data.val_count());
  for (const auto& bad : validation_.skipped) std::cerr << "nst-train: warning: validation image skipped: " << bad.reason << "\n";
  if (validation_.images.defined()) validation_.images = validation_.images.to(device_);

  log_ = std::make_unique<RunLog>(log_path_);
  if (start == Start::fresh) {
    json line = {{"event", "start"}, {"iteration", 0}, {"train_images", train_files_.size()},
                 {"validation_images", validation_.names.size()}, {"threads", threads_}, {"device", device_.str()},
                 {"date", now_iso8601()}};
    if (group_) line["world_size"] = group_->world_size();
    log_->write(line);
  }
  if (state_.iteration >= total_iterations_)
    std::cerr << "nst-train: the run already has " << state_.iteration << " iterations (train.iterations=" << total_iterations_
              << "); to continue, raise train.iterations\n";
  if (start == Start::fresh) checkpoint();  // iteration 0: resuming is possible from the very start
  window_start_ = std::chrono::steady_clock::now();
}

Trainer::Start Trainer::check_run_directory(Start start) {
  const std::string& run_dir = options_.run_dir();
  const auto existing = list_checkpoints(run_dir);
  // Only iteration 0 (or nothing): an attempt that failed or was killed before its first step.
  const bool started = existing.size() > 1 || (existing.size() == 1 && existing[0] != checkpoint_path(run_dir, 0));
  if (start == Start::fresh && (started || fs::exists(run_model_path(run_dir))))
    throw path_error(run_dir, "already holds a run; continue it with --resume " + run_dir +
                             " or choose another run_dir");
  if (start == Start::resume && existing.empty()) {
    if (writes_run_directory()) std::cerr << "nst-train: " << run_dir << " has no checkpoint yet; starting it from iteration 0\n";
    return Start::fresh;
  }
  return start;
}

void Trainer::prepare_run_directory(Start start) {
  if (group_) group_->barrier("start-up");  // every rank checked the directory before rank 0 writes to it
  if (!writes_run_directory()) return;
  const std::string& run_dir = options_.run_dir();
  if (start == Start::fresh)
    for (const auto& path : list_checkpoints(run_dir)) fs::remove(path);  // the failed attempt's iteration 0: this start rewrites it
  int removed = 0;
  for (const auto& dir : {fs::path(run_dir), fs::path(run_dir) / "checkpoints"})
    if (fs::is_directory(dir)) removed += remove_stale_temporaries(dir.string());
  if (removed > 0) std::cerr << "nst-train: removed " << removed << " temporary file(s) an interrupted run left in " << run_dir << "\n";
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
  const auto existing = list_checkpoints(options_.run_dir());  // not empty: prepare_run_directory saw to it
  for (auto it = existing.rbegin(); it != existing.rend(); ++it) {  // the newest readable one
    try {
      state_ = load_checkpoint(*it, net_, *optimizer_);
      for (const auto& warning : state_.warnings) std::cerr << "nst-train: warning: " << warning << "\n";
      if (writes_run_directory())
        std::cerr << "nst-train: resuming " << options_.run_dir() << " from iteration " << state_.iteration << "\n";
      break;
    } catch (const std::exception& e) {
      if (std::next(it) == existing.rend()) throw;  // the oldest one: its error is the run's
      std::cerr << "nst-train: warning: " << e.what() << "; trying an older checkpoint\n";
    }
  }
  if (writes_run_directory()) truncate_log(log_path_, state_.iteration);
  start_loader(state_.data_position);
}

void Trainer::start_loader(int64_t position) {
  const DataOptions& data = options_.data();
  const auto loader_options = LoaderOptions()
                                  .image_size(data.image_size())
                                  .seed(options_.seed())
                                  .threads(static_cast<int>(data.loader_threads()))
                                  .queue_capacity(static_cast<int>(data.queue_size()));
  loader_.reset();  // an earlier stream's threads stop first
  sharded_.reset();
  if (group_)
    sharded_ = std::make_unique<ShardedBatches>(train_files_, loader_options, options_.train().batch_size(), position, *group_);
  else
    loader_ = std::make_unique<ImageLoader>(train_files_, loader_options, position);
}

torch::Tensor Trainer::next_batch() {
  torch::Tensor batch = sharded_ ? sharded_->next_batch() : loader_->next_batch(options_.train().batch_size());
  for (const auto& bad : sharded_ ? sharded_->take_new_skipped() : loader_->take_new_skipped()) {
    if (!log_) continue;  // reported by rank 0
    std::cerr << "\nnst-train: warning: skipped " << bad.reason << "\n";
    log_->write({{"event", "skipped_image"}, {"iteration", state_.iteration}, {"file", bad.path}, {"error", bad.reason}});
  }
  return batch.to(device_);
}

double Trainer::learning_rate() const { return nst::learning_rate(options_.train(), state_.iteration); }

LossTerms Trainer::step() {
  timer_.start();
  const torch::Tensor batch = next_batch();
  timer_.mark(StepPhase::data);
  const double lr = learning_rate();
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

  LossTerms terms;
  {
    AutocastScope autocast(options_.train().precision(), device_);
    // One random window of output and content per step (train.loss_jitter), drawn from the seed and the iteration.
    const auto jitter = jitter_offset(options_.train().loss_jitter(), mix_seed(mix_seed(options_.seed(), 0x717E), state_.iteration));
    std::map<std::string, torch::Tensor> targets;
    {
      torch::NoGradGuard no_grad;
      targets = perceptual_->content_targets(jitter_window(batch, jitter));
    }
    timer_.mark(StepPhase::content);
    const torch::Tensor output = net_->forward(batch);
    timer_.mark(StepPhase::net_forward);
    terms = perceptual_->compute(jitter_window(output, jitter), targets);
    // Fires when the gradient reaches the output: the loss network's share of the backward pass ends.
    output.register_hook([this](const torch::Tensor& grad) {
      timer_.mark(StepPhase::loss_backward);
      return grad;
    });
    if (temporal_) {
      // The random flow of each step follows from the seed and the iteration: a resumed run draws the same.
      terms.temporal = temporal_->compute(net_, batch, output, mix_seed(mix_seed(options_.seed(), 0x7E3D), state_.iteration));
      terms.total = terms.total + terms.temporal;
    }
  }
  timer_.mark(StepPhase::loss_forward);
  if (!group_) throw_if_not_finite(terms);
  optimizer_->zero_grad();
  terms.total.backward();
  timer_.mark(StepPhase::net_backward);
  if (group_) {  // every rank sees the same averaged losses, so all stop together on NaN
    terms = average_over_ranks(terms);
    throw_if_not_finite(terms);
  }
  optimizer_->step();
  timer_.mark(StepPhase::optimizer);
  timer_.end_step();
  ++state_.iteration;
  state_.data_position = sharded_ ? sharded_->position() : loader_->position();
  ++window_iterations_;
  last_terms_ = terms;
  log_step(terms, lr);
  return terms;
}

void Trainer::throw_if_not_finite(const LossTerms& terms) const {
  const auto values = loss_values(terms);
  const double total = values.at("total");
  if (std::isfinite(total)) return;
  const auto good = list_checkpoints(options_.run_dir());
  auto number = [](double value) {  // std::to_string prints 1e300 as 301 digits
    std::ostringstream out;
    out << value;
    return out.str();
  };
  throw std::runtime_error("loss is " + std::string(std::isnan(total) ? "NaN" : "Inf") + " at iteration " +
                           std::to_string(state_.iteration + 1) + " (content " + number(values.at("content")) +
                           ", style " + number(values.at("style")) + ", tv " + number(values.at("tv")) +
                           "); stopped; last good checkpoint: " + (good.empty() ? "none" : good.back()) +
                           "; lower train.lr or the loss weights");
}

// One allreduce for the gradients (bucketed) and one for the losses and this rank's stop request.
LossTerms Trainer::average_over_ranks(const LossTerms& terms) {
  std::vector<torch::Tensor*> scalars;
  LossTerms averaged = terms;
  for (torch::Tensor* term : {&averaged.total, &averaged.content, &averaged.style, &averaged.tv, &averaged.temporal})
    if (term->defined()) scalars.push_back(term);
  for (auto* layers : {&averaged.content_per_layer, &averaged.style_per_layer})
    for (auto& [layer, value] : *layers)
      if (value.defined()) scalars.push_back(&value);
  std::vector<double> values;
  for (const torch::Tensor* scalar : scalars) values.push_back(scalar->detach().to(torch::kCPU, torch::kFloat64).item<double>());
  values.push_back(stop_requested() ? 1.0 : 0.0);
  const std::vector<double> sums = group_->average_gradients(net_->parameters(), values);
  for (size_t i = 0; i < scalars.size(); ++i) *scalars[i] = torch::tensor(sums[i] / group_->world_size(), torch::kFloat64);
  stop_agreed_ = sums.back() > 0;
  return averaged;
}

void Trainer::log_step(const LossTerms& terms, double lr) {
  if (!log_) return;
  const int64_t iteration = state_.iteration;
  if (iteration % options_.train().log_every() != 0 && iteration != 1 && iteration != total_iterations_) return;
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - window_start_).count();
  json line = loss_fields(terms, "");
  line["iteration"] = iteration;
  line["epoch"] = sharded_ ? sharded_->epoch() : loader_->epoch();
  line["lr"] = lr;
  line["it_per_s"] = seconds > 0 ? window_iterations_ / seconds : 0.0;
  line["images_per_s"] = seconds > 0 ? window_iterations_ * options_.train().batch_size() / seconds : 0.0;
  line["skipped_images"] = sharded_ ? sharded_->skipped_count() : loader_->skipped_count();
  line["step_seconds"] = timer_.take_means();
  if (group_) {  // collectives, including waiting for slower ranks
    line["communication_share"] = seconds > 0 ? (group_->communication_seconds() - window_communication_) / seconds : 0.0;
    window_communication_ = group_->communication_seconds();
  }
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
  if (!writes_run_directory()) return;
  if (!parameters_finite(net_))
    throw std::runtime_error("weights became NaN/Inf at iteration " + std::to_string(state_.iteration) +
                             "; last good checkpoint kept; try a lower train.lr");
  save_checkpoint(checkpoint_path(options_.run_dir(), state_.iteration), net_, *optimizer_, state_);
  prune_checkpoints(options_.run_dir(), options_.train().keep_checkpoints());
}

void Trainer::save_model() {
  if (!writes_run_directory()) return;
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
  std::optional<Progress> progress;  // one progress line per run: rank 0's
  if (writes_run_directory()) progress.emplace("train", total_iterations_ - std::min(state_.iteration, total_iterations_));
  window_start_ = std::chrono::steady_clock::now();
  window_iterations_ = 0;
  const ScheduleOptions& schedule = options_.train();
  while (state_.iteration < total_iterations_ && !stopping()) {
    const std::string note = loss_note(step());
    if (progress) progress->advance(1, note);
    const int64_t done = state_.iteration;
    if (schedule.validate_every() > 0 && done % schedule.validate_every() == 0 && done != total_iterations_) validate();
    if (done % schedule.checkpoint_every() == 0 && done != total_iterations_) checkpoint();
  }
  if (stopping()) {
    checkpoint();
    if (!progress) return kExitInterrupted;
    progress->finish("interrupted");
    std::cerr << "nst-train: interrupted by " << (stop_signal() ? "signal " + std::to_string(stop_signal()) : "a stop request to another rank")
              << " at iteration " << state_.iteration << "; checkpoint written; continue with: nst-train --resume "
              << options_.run_dir() << "\n";
    return kExitInterrupted;
  }
  if (progress) progress->finish();
  checkpoint();  // lets a later --resume with more train.iterations continue
  validate();
  save_model();
  if (!progress) return 0;
  std::cerr << "nst-train: " << state_.iteration << " iterations done; model: " << run_model_path(options_.run_dir());
  const size_t skipped = sharded_ ? sharded_->skipped_count() : loader_->skipped_count();
  if (skipped) std::cerr << " (" << skipped << " unreadable images skipped, listed in log.jsonl)";
  std::cerr << "\n";
  return 0;
}

}  // namespace nst
