// config/config.h: defaults as schema, file merge, key=value overrides (YAML values, lists, weight
// maps and single weight-map entries), unknown keys with a suggestion, type errors, file errors.
#include <fstream>

#include "test_support.h"
#include "config/config.h"
#include "train/train_options.h"

using nst::Config;
using nst::test::TempDir;
using nst::test::error_of;

namespace {

const char* kSchema = R"(
name: demo
seed: 42
enabled: true
path: null
sizes: [256]
names: []
train:
  lr: 1.0e-3
  iterations: 100
loss:
  layers: {relu1_2: 1.0, relu2_2: 0.5}
)";

Config make() { return Config(kSchema, {"loss.layers"}); }

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST(Config, DefaultsAreReadable) {
  const Config c = make();
  EXPECT_EQ(c.get_string("name"), "demo");
  EXPECT_EQ(c.get_int("train.iterations"), 100);
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 1e-3);
  EXPECT_TRUE(c.get_bool("enabled"));
  EXPECT_TRUE(c.is_null("path"));
  EXPECT_EQ(c.get_string("path"), "");
  EXPECT_EQ(c.get_weights("loss.layers").size(), 2u);
  EXPECT_TRUE(c.has("train.lr"));
  EXPECT_FALSE(c.has("train.lrr"));
}

TEST(Config, OverridesParseValuesAsYaml) {
  Config c = make();
  c.apply_override("train.lr=1e-4");
  c.apply_override("train.iterations=7");
  c.apply_override("sizes=[128, 512]");
  c.apply_override("names=[a.jpg,b.jpg]");
  c.apply_override("path=/tmp/x y.jpg");  // an optional (null) key takes a string
  c.apply_override("enabled=false");
  c.apply_override("name=\"123\"");
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 1e-4);
  EXPECT_EQ(c.get_int("train.iterations"), 7);
  EXPECT_EQ(c.get_doubles("sizes"), (std::vector<double>{128, 512}));
  EXPECT_EQ(c.get_strings("names"), (std::vector<std::string>{"a.jpg", "b.jpg"}));
  EXPECT_EQ(c.get_string("path"), "/tmp/x y.jpg");
  EXPECT_FALSE(c.get_bool("enabled"));
  EXPECT_EQ(c.get_string("name"), "123");
  c.apply_override("train.lr=2");  // an integer where a number is expected is fine
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 2.0);
  c.apply_override("path=null");  // back to unset
  EXPECT_TRUE(c.is_null("path"));
}

TEST(Config, UnknownKeysAreErrorsWithTheClosestValidKey) {
  Config c = make();
  const std::string override_error = error_of([&] { c.apply_override("train.lrr=1e-4"); });
  EXPECT_CONTAINS(override_error, "unknown key 'train.lrr'");
  EXPECT_CONTAINS(override_error, "did you mean 'train.lr'?");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("trian.iterations=3"); }), "did you mean 'train'?");
  // Nothing close: no suggestion.
  const std::string far = error_of([&] { c.apply_override("completely_unrelated_key=3"); });
  EXPECT_CONTAINS(far, "unknown key 'completely_unrelated_key'");
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
  // The failed override changed nothing.
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 1e-3);
  EXPECT_CONTAINS(error_of([&] { c.get_int("train.iteratons"); }), "did you mean 'train.iterations'?");
}

TEST(Config, WrongTypesNameTheKey) {
  Config c = make();
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train.iterations=abc"); }), "'train.iterations' must be an integer, got a string 'abc'");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train.iterations=1.5"); }), "'train.iterations' must be an integer");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train.lr=fast"); }), "'train.lr' must be a number");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train.lr="); }), "'train.lr' must be a number, got null");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("enabled=1"); }), "'enabled' must be a boolean");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("sizes=256"); }), "'sizes' must be a list");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("sizes=[a, b]"); }), "'sizes' must be a list of");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train=5"); }), "'train' must be a map");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("name=[1, 2]"); }), "'name' must be a string");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("path={a: 1}"); }), "'path'");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("no_equals_sign"); }), "expected key=value");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("train.lr=[1, 2"); }), "not valid YAML");
  EXPECT_CONTAINS(error_of([&] { c.apply_override(".lr=1"); }), "malformed key");
}

TEST(Config, WeightMapsAreReplacedWholeOrSetEntryByEntry) {
  Config c = make();
  c.apply_override("loss.layers={fire5: 2, fire7: 0.25}");
  EXPECT_EQ(c.get_weights("loss.layers"), (std::map<std::string, double>{{"fire5", 2.0}, {"fire7", 0.25}}));
  c.apply_override("loss.layers.fire2=3e-3");  // one entry: the others stay
  EXPECT_EQ(c.get_weights("loss.layers"), (std::map<std::string, double>{{"fire2", 3e-3}, {"fire5", 2.0}, {"fire7", 0.25}}));
  c.apply_override("loss.layers.fire5=0");
  EXPECT_DOUBLE_EQ(c.get_weights("loss.layers").at("fire5"), 0.0);
  EXPECT_CONTAINS(error_of([&] { c.apply_override("loss.layers.fire5=much"); }), "'loss.layers.fire5' must be a number");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("loss.layers={fire5: [1]}"); }), "'loss.layers.fire5' must be a number");
  EXPECT_CONTAINS(error_of([&] { c.apply_override("loss.layers=[fire5]"); }), "'loss.layers' must be a map");
}

TEST(Config, FilesMergeOverDefaultsAndReportErrorsWithTheFileName) {
  TempDir dir;
  Config c = make();
  write_file(dir / "good.yaml", "train:\n  lr: 0.01\nloss:\n  layers: {relu3_3: 1}\nnames: [x.png]\n");
  c.merge_file(dir / "good.yaml");
  EXPECT_DOUBLE_EQ(c.get_double("train.lr"), 0.01);
  EXPECT_EQ(c.get_int("train.iterations"), 100);  // untouched sibling keeps its default
  EXPECT_EQ(c.get_weights("loss.layers"), (std::map<std::string, double>{{"relu3_3", 1.0}}));  // replaced whole

  write_file(dir / "typo.yaml", "train:\n  iteratons: 5\n");
  const std::string typo = error_of([&] { make().merge_file(dir / "typo.yaml"); });
  EXPECT_CONTAINS(typo, dir / "typo.yaml");
  EXPECT_CONTAINS(typo, "unknown key 'train.iteratons' (did you mean 'train.iterations'?)");

  write_file(dir / "type.yaml", "train:\n  lr: [1]\n");
  EXPECT_CONTAINS(error_of([&] { make().merge_file(dir / "type.yaml"); }), "'train.lr' must be a number");

  write_file(dir / "broken.yaml", "train:\n  lr: 1\n   iterations: [\n");
  const std::string broken = error_of([&] { make().merge_file(dir / "broken.yaml"); });
  EXPECT_CONTAINS(broken, dir / "broken.yaml");
  EXPECT_CONTAINS(broken, "invalid YAML at line");

  write_file(dir / "list.yaml", "- a\n- b\n");
  EXPECT_CONTAINS(error_of([&] { make().merge_file(dir / "list.yaml"); }), "must be a map");

  EXPECT_CONTAINS(error_of([&] { make().merge_file(dir / "missing.yaml"); }), "missing.yaml: no such file");

  write_file(dir / "empty.yaml", "");
  Config empty = make();
  EXPECT_NO_THROW(empty.merge_file(dir / "empty.yaml"));
  EXPECT_EQ(empty.get_int("train.iterations"), 100);
}

TEST(Config, DumpRoundTripsThroughAFile) {
  TempDir dir;
  Config c = make();
  c.apply_override("names=[a.jpg, b.jpg]");
  c.apply_override("loss.layers.fire9=4");
  c.apply_override("train.lr=3e-4");
  write_file(dir / "dumped.yaml", c.dump());
  Config back = make();
  back.merge_file(dir / "dumped.yaml");
  EXPECT_EQ(back.get_strings("names"), c.get_strings("names"));
  EXPECT_EQ(back.get_weights("loss.layers"), c.get_weights("loss.layers"));
  EXPECT_DOUBLE_EQ(back.get_double("train.lr"), 3e-4);
  EXPECT_EQ(back.dump(), c.dump());
}

TEST(Config, CopiesAreIndependent) {
  Config original = make();
  Config copy = original;
  copy.apply_override("train.lr=0.5");
  copy.apply_override("loss.layers.fire2=9");
  EXPECT_DOUBLE_EQ(original.get_double("train.lr"), 1e-3);
  EXPECT_EQ(original.get_weights("loss.layers").count("fire2"), 0u);
  Config assigned = make();
  assigned = copy;
  assigned.apply_override("train.iterations=1");
  EXPECT_EQ(copy.get_int("train.iterations"), 100);
}

TEST(Config, TrainDefaultsHaveEveryKeyTheIssueNames) {
  const Config c = nst::make_train_config();
  for (const char* key : {"run_dir", "seed", "data.train_dir", "data.val_dir", "data.image_size", "style.images", "style.weights",
                          "style.size", "model.width", "model.res_blocks", "model.norm", "model.upsample", "model.padding",
                          "loss_network.name", "loss_network.weights", "loss.content.layers", "loss.style.layers",
                          "loss.content.weight", "loss.style.weight", "loss.tv.weight", "train.iterations", "train.batch_size",
                          "train.lr", "train.checkpoint_every", "train.validate_every", "train.log_every", "train.precision",
                          "train.threads"})
    EXPECT_TRUE(c.has(key)) << key;
  Config t = nst::make_train_config();
  t.apply_override("loss.style.layers={fire2: 1, fire5: 2}");
  t.apply_override("loss.content.layers.fire5=1");  // adds to the default map
  EXPECT_EQ(t.get_weights("loss.style.layers").size(), 2u);
  EXPECT_EQ(t.get_weights("loss.content.layers").size(), 2u);
  t.apply_override("style.weights=[0.7, 0.3]");
  EXPECT_EQ(t.get_doubles("style.weights"), (std::vector<double>{0.7, 0.3}));
}

// Duplicate keys, non-finite numbers and incomplete files the tools wrote whole are errors.
TEST(Config, DuplicateKeysInfinitiesAndIncompleteRunFilesAreErrors) {
  TempDir dir;
  write_file(dir / "twice.yaml", "train:\n  lr: 1.0e-3\n  lr: 1.0\n");
  EXPECT_CONTAINS(error_of([&] { make().merge_file(dir / "twice.yaml"); }), "twice.yaml: duplicate key 'train.lr'");
  Config infinite = make();
  infinite.apply_override("train.lr=.inf");
  EXPECT_EQ(error_of([&] { infinite.get_double("train.lr"); }), "config key 'train.lr' must be a finite number");
  Config nan = make();
  nan.apply_override("loss.layers.relu1_2=.nan");
  EXPECT_NE(error_of([&] { nan.get_weights("loss.layers"); }), "(no error)");

  write_file(dir / "whole.yaml", make().dump());
  EXPECT_NO_THROW(make().merge_complete_file(dir / "whole.yaml"));
  write_file(dir / "partial.yaml", "name: demo\nseed: 1\nenabled: true\npath: null\nsizes: [1]\nnames: []\n"
                                   "train:\n  lr: 0.1\nloss:\n  layers: {conv: 1.0}\n");
  EXPECT_CONTAINS(error_of([&] { make().merge_complete_file(dir / "partial.yaml"); }),
                  "partial.yaml: lacks 'train.iterations'");
  // A section added after a run was written may be absent whole (its defaults are the old
  // behaviour), never in part.
  write_file(dir / "older.yaml", "name: demo\nseed: 1\nenabled: true\npath: null\nsizes: [1]\nnames: []\n"
                                 "loss:\n  layers: {conv: 1.0}\n");
  EXPECT_NO_THROW(make().merge_complete_file(dir / "older.yaml", {"train"}));
  write_file(dir / "half.yaml", "name: demo\nseed: 1\nenabled: true\npath: null\nsizes: [1]\nnames: []\n"
                                "train:\n  lr: 0.1\nloss:\n  layers: {conv: 1.0}\n");
  EXPECT_CONTAINS(error_of([&] { make().merge_complete_file(dir / "half.yaml", {"train"}); }),
                  "half.yaml: lacks 'train.iterations'");
}
