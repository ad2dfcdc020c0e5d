// The Trainer in-process, built from typed options as nst-train builds it: the lr schedule, epochs,
// bf16 training, file lists, and step / validate / checkpoint / resume as methods.
#include <cmath>

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
                  "absent.txt: cannot open file list");
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

}  // namespace
}  // namespace nst
