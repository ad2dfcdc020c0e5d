#include "train/train_options.h"

#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "core/runtime.h"

namespace fs = std::filesystem;

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
  init: null               # a trained model file to start from (fine-tuning; same architecture), or null
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
    normalize: none        # none | auto: divide each layer by its style target's mean square (docs/loss-networks.md)
  tv:
    weight: 0.0
  temporal:                # stability for video from still photos (Wang et al. 2020; docs/training.md)
    weight: 0.0            # 0 = off; configs/video.yaml: 1.0e3
    flow_max: 6.0          # largest displacement of the random smooth flow, pixels
    flow_grid: 4           # random flow vectors per side, upsampled bicubically (fewer = smoother)
    noise: 4.0             # standard deviation of the noise added to the warped view (0..255 scale)
    warp: bilinear         # bilinear | bicubic: resampling along the flow (docs/training.md)
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
  precision: fp32          # fp32 | bf16 (autocast) | auto (the faster on this machine, timed at start)
  loss_jitter: 0           # pixels: the loss network sees output and content shifted by a random 0..N each step (docs/training.md)
  threads: 0               # intra-op threads; 0 = all available cores
)";
}

Config make_train_config() { return Config(train_defaults_yaml(), loss_weight_maps()); }

namespace {

std::string absolute(const std::string& path) { return path.empty() ? path : fs::absolute(path).lexically_normal().string(); }

void require(bool ok, const std::string& message) {
  if (!ok) throw std::runtime_error("config: " + message);
}

DataOptions data_options_from(const Config& c) {
  return DataOptions()
      .train_dir(c.get_string("data.train_dir"))
      .file_list(c.get_string("data.file_list"))
      .val_dir(c.get_string("data.val_dir"))
      .val_count(c.get_int("data.val_count"))
      .image_size(c.get_int("data.image_size"))
      .loader_threads(c.get_int("data.loader_threads"))
      .queue_size(c.get_int("data.queue_size"));
}

TransformerNetOptions model_options_from(const Config& c) {
  return TransformerNetOptions()
      .width(c.get_int("model.width"))
      .res_blocks(c.get_int("model.res_blocks"))
      .norm(c.get_choice("model.norm", kNormChoices))
      .upsample(c.get_choice("model.upsample", kUpsampleChoices))
      .padding(c.get_choice("model.padding", kPaddingChoices))
      .output(c.get_choice("model.output", kOutputChoices));
}

ScheduleOptions schedule_options_from(const Config& c) {
  return ScheduleOptions()
      .iterations(c.get_int("train.iterations"))
      .epochs(c.get_int("train.epochs"))
      .batch_size(c.get_int("train.batch_size"))
      .lr(c.get_double("train.lr"))
      .lr_schedule(c.get_choice("train.lr_schedule", kLrScheduleChoices))
      .lr_step(c.get_int("train.lr_step"))
      .lr_gamma(c.get_double("train.lr_gamma"))
      .checkpoint_every(c.get_int("train.checkpoint_every"))
      .keep_checkpoints(c.get_int("train.keep_checkpoints"))
      .validate_every(c.get_int("train.validate_every"))
      .log_every(c.get_int("train.log_every"))
      .precision(c.get_choice("train.precision", kPrecisionChoices))
      .loss_jitter(c.get_int("train.loss_jitter"))
      .threads(c.get_int("train.threads"));
}

// "config: KEY must be in LO..HI, got V": every number has a range, so no value can hang or overflow a run.
void require_range(int64_t value, int64_t lo, int64_t hi, const std::string& key, const std::string& note = "") {
  require(value >= lo && value <= hi,
          key + " must be in " + std::to_string(lo) + ".." + std::to_string(hi) + note + ", got " + std::to_string(value));
}

void validate_data(const DataOptions& d) {
  const int64_t multiple = TransformerNetImpl::kSizeMultiple, min_side = TransformerNetImpl::kMinSide;
  require_range(d.image_size(), min_side, 4096, "data.image_size");
  require(d.image_size() % multiple == 0,
          "data.image_size must be a multiple of " + std::to_string(multiple) + ", got " + std::to_string(d.image_size()));
  require_range(d.val_count(), 0, 10'000, "data.val_count");
  require_range(d.loader_threads(), 1, 64, "data.loader_threads");
  require_range(d.queue_size(), 1, 1024, "data.queue_size");
  require(!d.file_list().empty() || !d.train_dir().empty(), "set data.train_dir (a folder of photos) or data.file_list");
  require(d.file_list().empty() || d.train_dir().empty(), "set only one of data.train_dir and data.file_list");
}

void validate_schedule(const ScheduleOptions& t) {
  require_range(t.batch_size(), 1, 256, "train.batch_size");
  require_range(t.epochs(), 0, 1'000'000, "train.epochs", " (0 = use train.iterations)");
  if (t.epochs() == 0) require_range(t.iterations(), 1, kMaxIterations, "train.iterations");
  require(t.lr() > 0 && std::isfinite(t.lr()), "train.lr must be positive");
  require_range(t.lr_step(), 1, kMaxIterations, "train.lr_step");
  require(t.lr_gamma() > 0 && t.lr_gamma() <= 10, "train.lr_gamma must be in (0, 10]");
  require_range(t.checkpoint_every(), 1, kMaxIterations, "train.checkpoint_every");
  require_range(t.log_every(), 1, kMaxIterations, "train.log_every");
  require_range(t.validate_every(), 0, kMaxIterations, "train.validate_every", " (0 = only at the end)");
  require_range(t.keep_checkpoints(), 1, 1'000'000, "train.keep_checkpoints");
  require_range(t.threads(), 0, kMaxThreads, "train.threads", " (0 = all cores)");
  require_range(t.loss_jitter(), 0, 64, "train.loss_jitter", " (pixels)");
}

}  // namespace

void make_paths_absolute(Config& config) {
  for (const char* key : {"run_dir", "data.train_dir", "data.file_list", "data.val_dir", "model.init"})
    if (!config.is_null(key)) config.set(key, YAML::Node(absolute(config.get_string(key))));
  if (!config.is_null("loss_network.weights") && config.get_string("loss_network.weights") != "random")
    config.set("loss_network.weights", YAML::Node(absolute(config.get_string("loss_network.weights"))));
  YAML::Node images(YAML::NodeType::Sequence);
  for (const auto& image : config.get_strings("style.images")) images.push_back(absolute(image));
  config.set("style.images", images);
}

TrainOptions train_options_from(const Config& c) {
  return TrainOptions()
      .run_dir(c.get_string("run_dir"))
      .seed(static_cast<uint64_t>(c.get_int("seed")))
      .device(c.get_string("device"))
      .data(data_options_from(c))
      .style_images(c.get_strings("style.images"))
      .style_size(c.get_int("style.size"))
      .model(model_options_from(c))
      .init_model(c.is_null("model.init") ? "" : c.get_string("model.init"))
      .loss(loss_options_from(c))
      .temporal(TemporalLossOptions()
                    .weight(c.get_double("loss.temporal.weight"))
                    .flow_max(c.get_double("loss.temporal.flow_max"))
                    .flow_grid(c.get_int("loss.temporal.flow_grid"))
                    .noise(c.get_double("loss.temporal.noise"))
                    .warp(c.get_choice("loss.temporal.warp", kWarpInterpolationChoices)))
      .train(schedule_options_from(c));
}

void TrainOptions::validate() const {
  require(!run_dir_.empty(), "run_dir is not set (give run_dir=DIR or set it in the config file)");
  validate_data(data_);
  require(!style_images_.empty(), "style.images is empty (give style.images=[painting.jpg])");
  require_range(style_size_, 0, 8192, "style.size", " (0 = as they are)");
  try {
    model_.validate();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("config: model: ") + e.what());
  }
  validate_schedule(train_);
  require(train_.loss_jitter() < data_.image_size(), "train.loss_jitter (" + std::to_string(train_.loss_jitter()) +
                                                         ") must be below data.image_size");
  temporal_.validate();
}

double learning_rate(const ScheduleOptions& schedule, int64_t iteration) {
  if (schedule.lr_schedule() == LrSchedule::step)
    return schedule.lr() * std::pow(schedule.lr_gamma(), static_cast<double>(iteration / schedule.lr_step()));
  return schedule.lr();
}

}  // namespace nst
