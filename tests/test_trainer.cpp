// The Trainer in-process, built from typed options as nst-train builds it: the lr schedule, epochs,
// bf16 training, file lists, and step / validate / checkpoint / resume as methods.
#include <cmath>

#include "nets/model_file.h"
#include "train/provenance.h"
#include "train/trainer.h"
#include "train_fixture.h"

namespace nst {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// tiny.yaml with run_dir DIR/run and the overrides, read as nst-train reads it.
TrainOptions tiny_options(const TempDir& dir, const std::vector<std::string>& overrides = {}) {
  Config config = make_train_config();
  config.merge_file(dir / "tiny.yaml");
  config.set("run_dir", YAML::Node(dir / "run"));
  for (const auto& item : overrides) config.apply_override(item);
  return train_options_from(config);
}

double total_of(const LossTerms& terms) { return terms.total.item<double>(); }

TEST(Trainer, StepScheduleMultipliesTheRateEveryLrStepIterations) {
  TempDir dir;
  test::make_data(dir);
  Trainer trainer(tiny_options(dir, {"train.lr=0.01", "train.lr_schedule=step", "train.lr_step=3", "train.lr_gamma=0.5"}),
                  Trainer::Start::fresh);
  std::vector<double> rates;
  for (int i = 0; i < 7; ++i) {
    rates.push_back(trainer.learning_rate());
    trainer.step();
  }
  EXPECT_EQ(rates, (std::vector<double>{0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.0025}));
  const auto lines = test::training_lines(dir / "run");  // log_every 1: each step's rate is logged
  ASSERT_EQ(lines.size(), 7u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_DOUBLE_EQ(lines[i]["lr"].get<double>(), rates[i]) << i;

  const auto constant = tiny_options(dir, {"train.lr=0.01"}).train();
  EXPECT_EQ(constant.lr_schedule(), LrSchedule::constant);
  EXPECT_DOUBLE_EQ(learning_rate(constant, 12345), 0.01);
  EXPECT_CONTAINS(test::error_of([&] { tiny_options(dir, {"train.lr_schedule=cosine"}); }),
                  "train.lr_schedule must be constant or step, got 'cosine'");
}

// Each log line says where the steps' time went: every phase present, none negative, the backward
// pass split at the output (both halves took time), and the phases add up to the measured rate.
TEST(Trainer, LogLinesBreakTheStepTimeIntoPhases) {
  TempDir dir;
  test::make_data(dir);
  Trainer trainer(tiny_options(dir), Trainer::Start::fresh);
  for (int i = 0; i < 3; ++i) trainer.step();
  const auto lines = test::training_lines(dir / "run");
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& line : lines) {
    const auto& phases = line.at("step_seconds");
    double sum = 0;
    for (const char* phase : {"data", "content", "net_forward", "loss_forward", "loss_backward", "net_backward", "optimizer"}) {
      ASSERT_TRUE(phases.contains(phase)) << phase << " in " << line;
      EXPECT_GE(phases[phase].get<double>(), 0.0) << phase;
      sum += phases[phase].get<double>();
    }
    EXPECT_GT(phases["loss_backward"].get<double>(), 0.0);
    EXPECT_GT(phases["net_backward"].get<double>(), 0.0);
    if (&line != &lines.front()) {
      EXPECT_LE(sum, 1.0 / line["it_per_s"].get<double>() * 1.05 + 1e-3) << line;
    }
  }
}

TEST(Trainer, EpochsReplaceIterations) {
  TempDir dir;
  test::make_data(dir);
  Trainer trainer(tiny_options(dir, {"train.epochs=2", "train.iterations=1000", "train.validate_every=0"}),
                  Trainer::Start::fresh);
  EXPECT_EQ(trainer.train_image_count(), 7u);  // six photos and the corrupt one
  EXPECT_EQ(trainer.total_iterations(), 6);    // 2 epochs x (7 images / batch 2)
  EXPECT_EQ(trainer.run(), 0);
  EXPECT_EQ(trainer.iteration(), 6);
  EXPECT_TRUE(fs::exists(dir / "run/model.safetensors"));
}

TEST(Trainer, Bf16TrainingLearnsLikeFp32) {
  TempDir dir;
  test::make_data(dir);
  const auto options = tiny_options(dir, {"train.precision=bf16", "train.iterations=24"});
  EXPECT_EQ(options.train().precision(), Precision::bf16);
  Trainer bf16(options, Trainer::Start::fresh);
  std::vector<double> losses;
  for (int i = 0; i < 24; ++i) losses.push_back(total_of(bf16.step()));
  double first = 0, last = 0;
  for (int i = 0; i < 4; ++i) first += losses[i], last += losses[losses.size() - 1 - i];
  EXPECT_LT(last, 0.7 * first) << "first 4: " << first / 4 << ", last 4: " << last / 4;

  Trainer fp32(tiny_options(dir, {"run_dir=" + (dir / "fp32")}), Trainer::Start::fresh);
  const double reference = total_of(fp32.step());
  EXPECT_NEAR(losses[0] / reference, 1.0, 0.05) << "bf16 " << losses[0] << ", fp32 " << reference;
  EXPECT_NE(losses[0], reference);  // autocast really ran in bf16
}

TEST(Trainer, FileListGivesTheTrainingImages) {
  TempDir dir;
  test::make_data(dir);
  test::write_bytes(dir / "list.txt", "# two photos\nphotos/p0.png\n\nphotos/sub/p1.png\n");
  Trainer trainer(tiny_options(dir, {"data.train_dir=null", "data.file_list=" + (dir / "list.txt")}), Trainer::Start::fresh);
  EXPECT_EQ(trainer.train_image_count(), 2u);
  EXPECT_TRUE(std::isfinite(total_of(trainer.step())));
  EXPECT_CONTAINS(test::error_of([&] { Trainer both(tiny_options(dir, {"data.file_list=" + (dir / "list.txt")}), Trainer::Start::fresh); }),
                  "set only one of data.train_dir and data.file_list");
  EXPECT_CONTAINS(test::error_of([&] {
                    Trainer absent(tiny_options(dir, {"data.train_dir=null", "data.file_list=" + (dir / "absent.txt")}),
                                   Trainer::Start::fresh);
                  }),
                  "absent.txt: no such file");
}

TEST(Trainer, CheckpointThenResumeContinuesWithTheSameWeights) {
  TempDir dir;
  test::make_data(dir);
  const auto options = tiny_options(dir);
  std::map<std::string, torch::Tensor> saved;
  {
    Trainer first(options, Trainer::Start::fresh);
    for (int i = 0; i < 3; ++i) first.step();
    first.validate();
    first.checkpoint();
    for (const auto& item : first.net()->named_parameters()) saved[item.key()] = item.value().detach().clone();
  }
  EXPECT_TRUE(fs::exists(dir / "run/previews/iter_000003_p0.jpg"));
  Trainer second(options, Trainer::Start::resume);
  EXPECT_EQ(second.iteration(), 3);
  for (const auto& item : second.net()->named_parameters()) EXPECT_TRUE(torch::equal(item.value(), saved.at(item.key()))) << item.key();
  EXPECT_CONTAINS(test::error_of([&] { Trainer again(options, Trainer::Start::fresh); }), "already holds a run");
}

// model.init: a fresh run starts from a trained model's weights (fine-tuning), records it in the
// provenance, and refuses a model of another architecture with one line naming the file.
TEST(Trainer, ModelInitStartsFromTheGivenModel) {
  TempDir dir;
  test::make_data(dir);
  {
    Trainer pretrain(tiny_options(dir, {"train.validate_every=0"}), Trainer::Start::fresh);
    ASSERT_EQ(pretrain.run(), 0);
  }
  fs::rename(dir / "run", dir / "pretrained");
  const std::string init = dir / "pretrained/model.safetensors";
  const LoadedModel pretrained = load_model(init);
  Trainer tuned(tiny_options(dir, {"model.init=" + init, "train.iterations=2", "train.validate_every=0"}), Trainer::Start::fresh);
  for (const auto& item : tuned.net()->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), pretrained.net->named_parameters()[item.key()])) << item.key();
  // Starting from a trained net, the first step's loss is below a fresh net's on the same batch.
  const double tuned_first = total_of(tuned.step());
  fs::rename(dir / "run", dir / "tuned");
  Trainer fresh(tiny_options(dir, {"train.iterations=2", "train.validate_every=0"}), Trainer::Start::fresh);
  EXPECT_LT(tuned_first, total_of(fresh.step()));
  fs::remove_all(dir / "run");

  Trainer finished(tiny_options(dir, {"model.init=" + init, "train.iterations=1", "train.validate_every=0"}), Trainer::Start::fresh);
  ASSERT_EQ(finished.run(), 0);
  const auto provenance = load_model(dir / "run/model.safetensors").provenance;
  EXPECT_EQ(provenance["init_model"]["name"], "model.safetensors");
  EXPECT_EQ(provenance["init_model"]["sha256"], sha256_file(init));
  fs::remove_all(dir / "run");

  const auto wrong = test::error_of([&] {
    Trainer other(tiny_options(dir, {"model.init=" + init, "model.width=16"}), Trainer::Start::fresh);
  });
  EXPECT_CONTAINS(wrong, "model.init: " + init + ": architecture ");
  EXPECT_CONTAINS(wrong, "differs from the net's");
  EXPECT_CONTAINS(test::error_of([&] {
                    Trainer absent(tiny_options(dir, {"model.init=" + (dir / "absent.safetensors")}), Trainer::Start::fresh);
                  }),
                  "model.init: " + (dir / "absent.safetensors") + ": no such file");
  EXPECT_FALSE(fs::exists(dir / "run")) << "a bad model.init left a half-made run directory";
}

// loss.style.normalize: auto reaches the trainer's loss (every style layer then starts near its
// layer weight times the relative Gram error, whatever its magnitude) and the provenance.
TEST(Trainer, StyleNormalizeAutoIsReadAndRecorded) {
  TempDir dir;
  test::make_data(dir);
  Trainer trainer(tiny_options(dir, {"loss.style.normalize=auto", "train.iterations=1", "train.validate_every=0"}),
                  Trainer::Start::fresh);
  const LossTerms terms = trainer.step();
  for (const auto& [layer, value] : terms.style_per_layer) {
    // Relative Gram error of an untrained net's output: positive and of order one at every depth.
    EXPECT_GT(value.item<double>(), 1e-3) << layer;
    EXPECT_LT(value.item<double>(), 1e3) << layer;
  }
  ASSERT_EQ(trainer.run(), 0);
  EXPECT_EQ(load_model(dir / "run/model.safetensors").provenance["loss_weights"]["style_normalize"], "auto");
  EXPECT_CONTAINS(test::error_of([&] { tiny_options(dir, {"loss.style.normalize=yes"}); }),
                  "loss.style.normalize must be none or auto, got 'yes'");
}

// train.loss_jitter: the loss sees a shifted window (the same step scores differently), a resumed run
// draws the same windows (3 + 3 steps across a checkpoint give the weights of 6 straight), and a
// jitter as large as the crop is refused naming the key.
TEST(Trainer, LossJitterShiftsTheLossWindowAndResumesExactly) {
  TempDir dir;
  test::make_data(dir);
  const auto jittered = tiny_options(dir, {"train.loss_jitter=3", "train.validate_every=0"});
  auto first_loss = [&](const TrainOptions& options) {
    Trainer trainer(options, Trainer::Start::fresh);
    const double loss = total_of(trainer.step());
    fs::remove_all(dir / "run");
    return loss;
  };
  EXPECT_NE(first_loss(jittered), first_loss(tiny_options(dir, {"train.validate_every=0"})));

  std::map<std::string, torch::Tensor> straight;
  {
    Trainer trainer(jittered, Trainer::Start::fresh);
    for (int i = 0; i < 6; ++i) trainer.step();
    for (const auto& item : trainer.net()->named_parameters()) straight[item.key()] = item.value().detach().clone();
  }
  fs::remove_all(dir / "run");
  {
    Trainer trainer(jittered, Trainer::Start::fresh);
    for (int i = 0; i < 3; ++i) trainer.step();
    trainer.checkpoint();
  }
  Trainer resumed(jittered, Trainer::Start::resume);
  for (int i = 0; i < 3; ++i) resumed.step();
  for (const auto& item : resumed.net()->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), straight.at(item.key()))) << item.key();

  EXPECT_CONTAINS(test::error_of([&] {
                    Trainer too_far(tiny_options(dir, {"train.loss_jitter=32"}), Trainer::Start::fresh);
                  }),
                  "train.loss_jitter (32) must be below data.image_size");
}

}  // namespace
}  // namespace nst
