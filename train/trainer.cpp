#include "train/trainer.h"

#include <ATen/autocast_mode.h>
#include <openssl/evp.h>
#include <opencv2/imgproc.hpp>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/atomic_file.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "data/progress.h"
#include "losses/perceptual_loss.h"
#include "nets/model_file.h"
#include "nets/runtime.h"
#include "nets/transformer_net.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace nst {

const char* train_defaults_yaml() {
  // Defaults follow the paper recipe (pytorch/examples fast_neural_style weights for torchvision VGG16);
  // configs/ holds complete recipes. null = unset (optional path).
  return R"(
run_dir: null              # required: where config, checkpoints, previews, log and model go
seed: 42
device: auto               # auto | cpu | cuda | cuda:N
data:
  train_dir: null          # folder of photos, searched recursively (or use file_list)
  file_list: null          # text file, one image path per line (relative to the list's folder)
  val_dir: null            # validation photos (default: the first val_count training photos)
  val_count: 4
  image_size: 256          # short side resized to this, then a square crop
  loader_threads: 2
  queue_size: 32           # images decoded ahead
style:
  images: []               # one or more style images (a blend)
  weights: []              # blend weights (default: equal)
  size: 256                # long side of the style images (0 = as they are)
model:
  width: 32                # 16 = jcjohnson's half-width net
  res_blocks: 5
  norm: instance           # instance | batch
  upsample: nearest-conv   # nearest-conv | transposed
  padding: reflect         # reflect | zero
  output: linear           # linear | tanh
loss_network:
  name: vgg16              # vgg16 | vgg19 | squeezenet1_1
  weights: null            # safetensors file; "random" = random weights (tests and benchmarks only)
loss:
  content:
    weight: 1.0e5
    layers: {relu2_2: 1.0}
  style:
    weight: 1.0e10
    layers: {relu1_2: 1.0, relu2_2: 1.0, relu3_3: 1.0, relu4_3: 1.0}
  tv:
    weight: 0.0
train:
  iterations: 40000
  epochs: 0                # > 0: replaces iterations by epochs * (images / batch_size)
  batch_size: 4
  lr: 1.0e-3
  lr_schedule: constant    # constant | step
  lr_step: 10000           # step: multiply lr by lr_gamma every lr_step iterations
  lr_gamma: 0.5
  checkpoint_every: 1000
  keep_checkpoints: 3
  validate_every: 500
  log_every: 50
  precision: fp32          # fp32 | bf16 (autocast)
  threads: 0               # intra-op threads; 0 = all available cores
)";
}

Config make_train_config() { return Config(train_defaults_yaml(), {"loss.content.layers", "loss.style.layers"}); }

std::string run_config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.yaml").string(); }
std::string run_model_path(const std::string& run_dir) { return (fs::path(run_dir) / "model.safetensors").string(); }

namespace {

std::atomic<int> g_stop_signal{0};

void on_stop_signal(int signal) { g_stop_signal = signal; }

// First Ctrl-C: checkpoint and exit; a second one (handler reset) kills at once.
void install_stop_handlers() {
  g_stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  char buffer[1 << 16];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) EVP_DigestUpdate(context, buffer, static_cast<size_t>(in.gcount()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  std::ostringstream hex;
  for (unsigned int i = 0; i < length; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << int(digest[i]);
  return hex.str();
}

std::string now_iso8601() {
  const std::time_t t = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return text;
}

std::string absolute(const std::string& path) { return path.empty() ? path : fs::absolute(path).lexically_normal().string(); }

// Paths in the saved config are absolute, so `--resume` works from any working directory.
void make_paths_absolute(Config& config) {
  for (const char* key : {"run_dir", "data.train_dir", "data.file_list", "data.val_dir"})
    if (!config.is_null(key)) config.set(key, YAML::Node(absolute(config.get_string(key))));
  if (!config.is_null("loss_network.weights") && config.get_string("loss_network.weights") != "random")
    config.set("loss_network.weights", YAML::Node(absolute(config.get_string("loss_network.weights"))));
  YAML::Node images(YAML::NodeType::Sequence);
  for (const auto& image : config.get_strings("style.images")) images.push_back(absolute(image));
  config.set("style.images", images);
}

// Everything the loop needs, read and validated from the config up front.
struct Settings {
  std::string run_dir, device, weights_path, precision, lr_schedule;
  uint64_t seed;
  int64_t image_size, val_count, loader_threads, queue_size, style_size;
  std::vector<std::string> style_images, train_files, val_files;
  std::vector<double> style_weights;
  TransformerNetOptions model;
  std::string loss_network;
  LossWeights loss;
  int64_t iterations, epochs, batch_size, lr_step, checkpoint_every, keep_checkpoints, validate_every, log_every, threads;
  double lr, lr_gamma;
};

void require(bool ok, const std::string& message) {
  if (!ok) throw std::runtime_error("config: " + message);
}

Settings read_settings(const Config& c) {
  Settings s;
  s.run_dir = c.get_string("run_dir");
  require(!s.run_dir.empty(), "run_dir is not set (give run_dir=DIR or set it in the config file)");
  s.seed = static_cast<uint64_t>(c.get_int("seed"));
  s.device = c.get_string("device");
  s.image_size = c.get_int("data.image_size");
  require(s.image_size >= TransformerNetImpl::kMinSide && s.image_size % TransformerNetImpl::kSizeMultiple == 0,
          "data.image_size must be a multiple of " + std::to_string(TransformerNetImpl::kSizeMultiple) + " and at least " +
              std::to_string(TransformerNetImpl::kMinSide) + ", got " + std::to_string(s.image_size));
  s.val_count = c.get_int("data.val_count");
  require(s.val_count >= 0, "data.val_count must be >= 0");
  s.loader_threads = c.get_int("data.loader_threads");
  require(s.loader_threads >= 1, "data.loader_threads must be >= 1");
  s.queue_size = c.get_int("data.queue_size");
  require(s.queue_size >= 1, "data.queue_size must be >= 1");

  const std::string file_list = c.get_string("data.file_list"), train_dir = c.get_string("data.train_dir");
  require(!file_list.empty() || !train_dir.empty(), "set data.train_dir (a folder of photos) or data.file_list");
  require(file_list.empty() || train_dir.empty(), "set only one of data.train_dir and data.file_list");
  s.train_files = file_list.empty() ? list_images(train_dir) : read_file_list(file_list);
  const std::string val_dir = c.get_string("data.val_dir");
  s.val_files = val_dir.empty() ? s.train_files : list_images(val_dir);

  s.style_images = c.get_strings("style.images");
  require(!s.style_images.empty(), "style.images is empty (give style.images=[painting.jpg])");
  s.style_weights = c.get_doubles("style.weights");
  if (s.style_weights.empty()) s.style_weights.assign(s.style_images.size(), 1.0);
  require(s.style_weights.size() == s.style_images.size(), "style.weights has " + std::to_string(s.style_weights.size()) +
                                                               " entries for " + std::to_string(s.style_images.size()) + " style.images");
  double weight_sum = 0;
  for (double w : s.style_weights) {
    require(w >= 0 && std::isfinite(w), "style.weights must be non-negative numbers");
    weight_sum += w;
  }
  require(weight_sum > 0, "style.weights must not all be zero");
  s.style_size = c.get_int("style.size");
  require(s.style_size >= 0, "style.size must be >= 0");

  s.model.width = c.get_int("model.width");
  s.model.res_blocks = c.get_int("model.res_blocks");
  s.model.norm = c.get_string("model.norm");
  s.model.upsample = c.get_string("model.upsample");
  s.model.padding = c.get_string("model.padding");
  s.model.output = c.get_string("model.output");
  try {
    s.model.validate();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("config: model: ") + e.what());
  }

  s.loss_network = c.get_string("loss_network.name");
  s.weights_path = c.get_string("loss_network.weights");
  require(!s.weights_path.empty(),
          "loss_network.weights is not set: give the loss network's safetensors file (see docs/training.md for where to get it)");
  if (s.weights_path == "random") s.weights_path.clear();
  s.loss.content_layers = c.get_weights("loss.content.layers");
  s.loss.style_layers = c.get_weights("loss.style.layers");
  s.loss.content_weight = c.get_double("loss.content.weight");
  s.loss.style_weight = c.get_double("loss.style.weight");
  s.loss.tv_weight = c.get_double("loss.tv.weight");

  s.iterations = c.get_int("train.iterations");
  s.epochs = c.get_int("train.epochs");
  s.batch_size = c.get_int("train.batch_size");
  require(s.batch_size >= 1, "train.batch_size must be >= 1");
  require(s.epochs >= 0, "train.epochs must be >= 0");
  if (s.epochs > 0) s.iterations = s.epochs * std::max<int64_t>(1, static_cast<int64_t>(s.train_files.size()) / s.batch_size);
  require(s.iterations >= 1, "train.iterations must be >= 1");
  s.lr = c.get_double("train.lr");
  require(s.lr > 0 && std::isfinite(s.lr), "train.lr must be positive");
  s.lr_schedule = c.get_string("train.lr_schedule");
  require(s.lr_schedule == "constant" || s.lr_schedule == "step", "train.lr_schedule must be constant or step, got '" + s.lr_schedule + "'");
  s.lr_step = c.get_int("train.lr_step");
  require(s.lr_step >= 1, "train.lr_step must be >= 1");
  s.lr_gamma = c.get_double("train.lr_gamma");
  require(s.lr_gamma > 0, "train.lr_gamma must be positive");
  s.checkpoint_every = c.get_int("train.checkpoint_every");
  s.keep_checkpoints = c.get_int("train.keep_checkpoints");
  s.validate_every = c.get_int("train.validate_every");
  s.log_every = c.get_int("train.log_every");
  require(s.checkpoint_every >= 1 && s.log_every >= 1 && s.validate_every >= 0 && s.keep_checkpoints >= 1,
          "train.checkpoint_every, train.log_every and train.keep_checkpoints must be >= 1, train.validate_every >= 0 (0 = only at the end)");
  s.precision = c.get_string("train.precision");
  require(s.precision == "fp32" || s.precision == "bf16", "train.precision must be fp32 or bf16, got '" + s.precision + "'");
  s.threads = c.get_int("train.threads");
  require(s.threads >= 0, "train.threads must be >= 0 (0 = all cores)");
  return s;
}

double learning_rate(const Settings& s, int64_t iteration) {
  if (s.lr_schedule == "step") return s.lr * std::pow(s.lr_gamma, static_cast<double>(iteration / s.lr_step));
  return s.lr;
}

// bf16 autocast for the forward pass and losses on the chosen device (restored on scope exit).
class AutocastScope {
 public:
  AutocastScope(bool enabled, const torch::Device& device) : enabled_(enabled), cuda_(device.is_cuda()) {
    if (!enabled_) return;
    if (cuda_) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~AutocastScope() {
    if (!enabled_) return;
    if (cuda_)
      at::autocast::set_enabled(false);
    else
      at::autocast::set_cpu_enabled(false);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_, cuda_;
};

double value(const torch::Tensor& t) { return t.defined() ? t.detach().to(torch::kCPU, torch::kFloat64).item<double>() : 0.0; }

json loss_fields(const LossTerms& terms, const std::string& prefix) {
  json j;
  j[prefix + "total"] = value(terms.total);
  j[prefix + "content"] = value(terms.content);
  j[prefix + "style"] = value(terms.style);
  j[prefix + "tv"] = value(terms.tv);
  for (const auto& [layer, loss] : terms.content_per_layer) j[prefix + "content_" + layer] = value(loss);
  for (const auto& [layer, loss] : terms.style_per_layer) j[prefix + "style_" + layer] = value(loss);
  return j;
}

bool parameters_finite(TransformerNet& net) {
  torch::NoGradGuard no_grad;
  for (const auto& p : net->parameters())
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
}

// log.jsonl keeps only lines up to `iteration` (on resume, lines written after the checkpoint go).
void truncate_log(const std::string& path, int64_t iteration) {
  std::ifstream in(path);
  if (!in) return;
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("iteration") && j["iteration"].is_number() && j["iteration"].get<int64_t>() > iteration)
      continue;
    kept += line + "\n";
  }
  write_bytes_atomically(path, kept);
}

torch::Tensor load_style_image(const std::string& path, int64_t long_side) {
  cv::Mat bgr = read_image_bgr(path);
  if (long_side > 0 && std::max(bgr.rows, bgr.cols) != long_side) {
    const double scale = static_cast<double>(long_side) / std::max(bgr.rows, bgr.cols);
    cv::Mat resized;
    cv::resize(bgr, resized, cv::Size(std::max(1, static_cast<int>(std::lround(bgr.cols * scale))),
                                      std::max(1, static_cast<int>(std::lround(bgr.rows * scale)))),
               0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
    bgr = resized;
  }
  return mat_to_tensor(bgr);
}

class LogFile {
 public:
  explicit LogFile(const std::string& path) : out_(path, std::ios::app) {
    if (!out_) throw std::runtime_error(path + ": cannot open for writing");
  }
  void write(const json& line) {
    out_ << line.dump() << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

}  // namespace

int run_training(Config config, bool resume) {
  make_paths_absolute(config);
  const Settings s = read_settings(config);
  const int threads = configure_threads(static_cast<int>(s.threads));
  const torch::Device device = pick_device(s.device);

  // The run directory: a fresh run refuses to overwrite an existing one.
  const auto existing = list_checkpoints(s.run_dir);
  if (!resume && (!existing.empty() || fs::exists(run_model_path(s.run_dir))))
    throw std::runtime_error(s.run_dir + ": already holds a run; continue it with --resume " + s.run_dir +
                             " or choose another run_dir");
  if (resume && existing.empty())
    throw std::runtime_error(s.run_dir + ": no checkpoint to resume from (checkpoints/ckpt_*.pt)");
  fs::create_directories(fs::path(s.run_dir) / "previews");
  write_bytes_atomically(run_config_path(s.run_dir), config.dump());

  // Networks: the same seed gives the same initial weights (and the same random loss net in tests).
  torch::manual_seed(s.seed);
  TransformerNet net(s.model);
  net->to(device);
  torch::manual_seed(mix_seed(s.seed, 1));
  LossNetwork loss_net(s.loss_network, s.weights_path);
  loss_net->to(device);
  PerceptualLoss perceptual(loss_net, s.loss);
  {
    std::vector<torch::Tensor> styles;
    for (const auto& path : s.style_images) styles.push_back(load_style_image(path, s.style_size).to(device));
    torch::NoGradGuard no_grad;
    perceptual.set_style_targets(styles, s.style_weights);
  }

  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(s.lr));
  CheckpointState state;
  const std::string log_path = (fs::path(s.run_dir) / "log.jsonl").string();
  if (resume) {
    std::string error;
    bool loaded = false;
    for (auto it = existing.rbegin(); it != existing.rend() && !loaded; ++it) {  // newest readable one
      try {
        state = load_checkpoint(*it, net, optimizer);
        loaded = true;
        std::cerr << "nst-train: resuming " << s.run_dir << " from iteration " << state.iteration << "\n";
      } catch (const std::exception& e) {
        std::cerr << "nst-train: warning: " << e.what() << "; trying an older checkpoint\n";
        error = e.what();
      }
    }
    if (!loaded) throw std::runtime_error(error);
    truncate_log(log_path, state.iteration);
  } else {
    fs::remove(log_path);  // left by an attempt that stopped before its first checkpoint
  }

  // Data.
  LoaderOptions loader_options;
  loader_options.image_size = s.image_size;
  loader_options.seed = s.seed;
  loader_options.threads = static_cast<int>(s.loader_threads);
  loader_options.queue_capacity = static_cast<int>(s.queue_size);
  ImageLoader loader(s.train_files, loader_options, state.data_position);
  ValidationSet validation = load_validation_set(s.val_files, s.image_size, s.val_count);
  for (const auto& bad : validation.skipped) std::cerr << "nst-train: warning: validation image skipped: " << bad.reason << "\n";
  if (validation.images.defined()) validation.images = validation.images.to(device);

  LogFile log(log_path);
  if (!resume)
    log.write({{"event", "start"}, {"iteration", 0}, {"train_images", s.train_files.size()}, {"validation_images", validation.names.size()},
               {"threads", threads}, {"device", device.str()}, {"date", now_iso8601()}});

  const bool bf16 = s.precision == "bf16";
  auto validate = [&](int64_t iteration) {
    if (!validation.images.defined()) return;
    torch::NoGradGuard no_grad;
    net->eval();
    json line = {{"iteration", iteration}, {"phase", "validation"}};
    {
      AutocastScope autocast(bf16, device);
      const auto targets = perceptual.content_targets(validation.images);
      const torch::Tensor output = net->forward(validation.images).to(torch::kFloat32);
      const LossTerms terms = perceptual.compute(output, targets);
      line.update(loss_fields(terms, "val_"));
      char prefix[32];
      std::snprintf(prefix, sizeof prefix, "iter_%06lld_", static_cast<long long>(iteration));
      for (size_t i = 0; i < validation.names.size(); ++i)
        write_image((fs::path(s.run_dir) / "previews" / (prefix + validation.names[i] + ".jpg")).string(), output[i].cpu(), 90);
    }
    net->train();
    log.write(line);
  };
  auto checkpoint = [&](const CheckpointState& at) {
    if (!parameters_finite(net))
      throw std::runtime_error("weights became NaN/Inf at iteration " + std::to_string(at.iteration) +
                               "; last good checkpoint kept; try a lower train.lr");
    save_checkpoint(checkpoint_path(s.run_dir, at.iteration), net, optimizer, at);
    prune_checkpoints(s.run_dir, s.keep_checkpoints);
  };

  if (state.iteration >= s.iterations) {
    std::cerr << "nst-train: the run already has " << state.iteration << " iterations (train.iterations=" << s.iterations
              << "); to continue, raise train.iterations\n";
  }
  if (!resume) checkpoint(state);  // iteration 0: resuming is possible from the very start

  install_stop_handlers();
  net->train();
  Progress progress("train", s.iterations - std::min(state.iteration, s.iterations));
  auto window_start = std::chrono::steady_clock::now();
  int64_t window_iterations = 0;
  LossTerms terms;
  while (state.iteration < s.iterations) {
    if (g_stop_signal) break;
    const torch::Tensor batch = loader.next_batch(s.batch_size).to(device);
    for (const auto& bad : loader.take_new_skipped()) {
      std::cerr << "\nnst-train: warning: skipped " << bad.reason << "\n";
      log.write({{"event", "skipped_image"}, {"iteration", state.iteration}, {"file", bad.path}, {"error", bad.reason}});
    }
    const double lr = learning_rate(s, state.iteration);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);

    {
      AutocastScope autocast(bf16, device);
      std::map<std::string, torch::Tensor> targets;
      {
        torch::NoGradGuard no_grad;
        targets = perceptual.content_targets(batch);
      }
      const torch::Tensor output = net->forward(batch);
      terms = perceptual.compute(output, targets);
    }
    const double total = value(terms.total);
    if (!std::isfinite(total)) {
      const auto good = list_checkpoints(s.run_dir);
      throw std::runtime_error("loss is " + std::string(std::isnan(total) ? "NaN" : "Inf") + " at iteration " +
                               std::to_string(state.iteration + 1) + " (content " + std::to_string(value(terms.content)) +
                               ", style " + std::to_string(value(terms.style)) + ", tv " + std::to_string(value(terms.tv)) +
                               "); stopped; last good checkpoint: " + (good.empty() ? "none" : good.back()) +
                               "; lower train.lr or the loss weights");
    }
    optimizer.zero_grad();
    terms.total.backward();
    optimizer.step();
    ++state.iteration;
    state.data_position = loader.position();
    ++window_iterations;

    char note[96];
    std::snprintf(note, sizeof note, "loss %.4g (content %.3g style %.3g tv %.3g)", total, value(terms.content),
                  value(terms.style), value(terms.tv));
    progress.advance(1, note);
    if (state.iteration % s.log_every == 0 || state.iteration == 1 || state.iteration == s.iterations) {
      const auto now = std::chrono::steady_clock::now();
      const double seconds = std::chrono::duration<double>(now - window_start).count();
      json line = loss_fields(terms, "");
      line["iteration"] = state.iteration;
      line["epoch"] = loader.epoch();
      line["lr"] = lr;
      line["it_per_s"] = seconds > 0 ? window_iterations / seconds : 0.0;
      line["images_per_s"] = seconds > 0 ? window_iterations * s.batch_size / seconds : 0.0;
      line["skipped_images"] = loader.skipped_count();
      log.write(line);
      window_start = now;
      window_iterations = 0;
    }
    if (s.validate_every > 0 && state.iteration % s.validate_every == 0 && state.iteration != s.iterations) validate(state.iteration);
    if (state.iteration % s.checkpoint_every == 0 && state.iteration != s.iterations) checkpoint(state);
  }

  if (g_stop_signal) {
    checkpoint(state);
    progress.finish("interrupted");
    std::cerr << "nst-train: interrupted by signal " << g_stop_signal << " at iteration " << state.iteration
              << "; checkpoint written; continue with: nst-train --resume " << s.run_dir << "\n";
    return kExitInterrupted;
  }
  progress.finish();
  checkpoint(state);  // lets a later --resume with more train.iterations continue
  validate(state.iteration);

  json style_provenance = json::array();
  for (size_t i = 0; i < s.style_images.size(); ++i)
    style_provenance.push_back({{"name", fs::path(s.style_images[i]).filename().string()},
                                {"sha256", sha256_file(s.style_images[i])},
                                {"weight", s.style_weights[i]}});
  json provenance = {
      {"tool", "nst-train"},
      {"style_images", style_provenance},
      {"style_size", s.style_size},
      {"loss_network", {{"name", s.loss_network},
                        {"weights", s.weights_path.empty() ? "random" : fs::path(s.weights_path).filename().string()},
                        {"preprocess", loss_net->preprocess()}}},
      {"loss_weights", {{"content", s.loss.content_weight},
                        {"style", s.loss.style_weight},
                        {"tv", s.loss.tv_weight},
                        {"content_layers", s.loss.content_layers},
                        {"style_layers", s.loss.style_layers}}},
      {"iterations", state.iteration},
      {"batch_size", s.batch_size},
      {"image_size", s.image_size},
      {"seed", s.seed},
      {"final_losses", loss_fields(terms, "")},
      {"date", now_iso8601()},
      {"config", config.dump()}};
  save_model(run_model_path(s.run_dir), net, provenance);
  std::cerr << "nst-train: " << state.iteration << " iterations done; model: " << run_model_path(s.run_dir);
  if (loader.skipped_count()) std::cerr << " (" << loader.skipped_count() << " unreadable images skipped, listed in log.jsonl)";
  std::cerr << "\n";
  return 0;
}

}  // namespace nst
