// The model file: round trips, and every kind of damage rejected with one message naming the file
// and the problem.
#include <fstream>
#include <iterator>

#include "data/safetensors.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;

// Every parameter random (norms too, so a lost tensor shows).
TransformerNet random_net(TransformerNetOptions options = {}) {
  options.width(4).res_blocks(1);
  torch::manual_seed(7);
  TransformerNet net(options);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.uniform_(-0.5, 0.5);
  return net;
}

std::map<std::string, torch::Tensor> state_of(TransformerNet& net) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : net->named_parameters()) state[item.key()] = item.value().detach().clone();
  for (const auto& item : net->named_buffers()) state[item.key()] = item.value().detach().clone();
  return state;
}

using test::read_bytes;
using test::write_bytes;

// The load error message, or "" when it loads.
std::string load_error(const std::string& path) {
  try {
    load_model(path);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::map<std::string, std::string> metadata_for(const TransformerNetOptions& options) {
  return {{"format", kModelFormat},
          {"format_version", std::to_string(kModelFormatVersion)},
          {"architecture", options.to_json().dump()},
          {"provenance", "{}"}};
}

// Writes the small net's tensors, edited by `edit`, with valid metadata; returns the load error.
template <typename Edit>
std::string error_after_edit(const TempDir& dir, Edit edit, std::map<std::string, std::string> metadata = {}) {
  auto net = random_net();
  auto state = state_of(net);
  edit(state);
  if (metadata.empty()) metadata = metadata_for(net->options());
  const std::string path = dir / "edited.safetensors";
  write_safetensors(path, state, metadata);
  return load_error(path);
}

TEST(ModelFile, RoundTripKeepsTensorsArchitectureAndProvenance) {
  TempDir dir;
  for (const auto& options : {TransformerNetOptions{}, TransformerNetOptions()
                                                               .res_blocks(2)
                                                               .norm(NormKind::batch)
                                                               .upsample(UpsampleKind::transposed)
                                                               .padding(PaddingKind::zero)
                                                               .output(OutputKind::tanh)}) {
    auto net = random_net(options);
    const nlohmann::json provenance = {{"style", "starry_night.jpg"}, {"iterations", 40000}};
    const std::string path = dir / "model.safetensors";
    save_model(path, net, provenance);
    auto loaded = load_model(path);
    EXPECT_TRUE(loaded.warnings.empty());
    EXPECT_EQ(loaded.provenance, provenance);
    EXPECT_EQ(loaded.net->options().to_json(), net->options().to_json());
    EXPECT_FALSE(loaded.net->is_training());
    const auto expected = state_of(net), actual = state_of(loaded.net);
    ASSERT_EQ(expected.size(), actual.size());
    for (const auto& [name, tensor] : expected) {
      ASSERT_TRUE(actual.count(name)) << name;
      EXPECT_TRUE(torch::equal(tensor, actual.at(name))) << name;
    }
    net->eval();
    auto x = torch::rand({1, 3, 20, 24}) * 255;
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(net(x), loaded.net(x)));
  }
}

TEST(ModelFile, NamesFollowPytorchExamples) {
  TempDir dir;
  TransformerNet net;  // default architecture
  save_model(dir / "m.safetensors", net, {});
  auto file = read_safetensors(dir / "m.safetensors");
  EXPECT_EQ(file.tensors.size(), 62u);  // 16 conv layers (weight+bias) + 15 norms (weight+bias)
  for (const char* name : {"conv1.conv2d.weight", "in1.weight", "res1.conv1.conv2d.weight", "res5.in2.bias",
                           "deconv1.conv2d.weight", "in5.bias", "deconv3.conv2d.bias"})
    EXPECT_TRUE(file.tensors.count(name)) << name;
  EXPECT_EQ(file.metadata.at("format"), kModelFormat);
  EXPECT_EQ(file.metadata.at("format_version"), "1");
  EXPECT_EQ(nlohmann::json::parse(file.metadata.at("architecture")), TransformerNetOptions{}.to_json());
  for (const auto& [name, tensor] : file.tensors) EXPECT_EQ(tensor.scalar_type(), torch::kFloat32) << name;
}

TEST(ModelFile, TruncatedFilesAreRejectedNamingTheFile) {
  TempDir dir;
  auto net = random_net();
  save_model(dir / "good.safetensors", net, {});
  const std::string bytes = read_bytes(dir / "good.safetensors");
  const std::string path = dir / "truncated.safetensors";
  for (size_t size : {size_t{0}, size_t{5}, size_t{8}, size_t{40}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 1}) {
    write_bytes(path, bytes.substr(0, size));
    const std::string error = load_error(path);
    EXPECT_NE(error.find(path + ": "), std::string::npos) << "size " << size << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(ModelFile, FlippedHeaderBytesAreRejected) {
  TempDir dir;
  auto net = random_net();
  save_model(dir / "good.safetensors", net, {});
  const std::string bytes = read_bytes(dir / "good.safetensors");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  const std::string path = dir / "flipped.safetensors";
  // The length field, then positions spread over the JSON header (names, dtypes, shapes, offsets,
  // metadata): a flipped byte there is never valid JSON/UTF-8.
  std::vector<size_t> positions = {0, 1, 3, 7};
  for (size_t i = 0; i < 24; ++i) positions.push_back(8 + i * (header_len - 1) / 23);
  for (size_t position : positions) {
    std::string damaged = bytes;
    damaged[position] = static_cast<char>(damaged[position] ^ 0xFF);
    write_bytes(path, damaged);
    const std::string error = load_error(path);
    EXPECT_NE(error.find(path + ": "), std::string::npos) << "byte " << position << ": '" << error << "'";
  }
}

TEST(ModelFile, WrongShapeIsRejected) {
  TempDir dir;
  const auto error = error_after_edit(dir, [](auto& state) { state["res1.conv1.conv2d.weight"] = torch::zeros({16, 16, 3, 1}); });
  EXPECT_NE(error.find("res1.conv1.conv2d.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("shape [16, 16, 3, 1], expected [16, 16, 3, 3]"), std::string::npos) << error;
}

TEST(ModelFile, NonFiniteValuesAreRejected) {
  TempDir dir;
  for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    const auto error = error_after_edit(dir, [&](auto& state) { state["in3.bias"][2] = bad; });
    EXPECT_NE(error.find("'in3.bias' has NaN or infinite values"), std::string::npos) << error;
  }
}

TEST(ModelFile, MissingTensorsAreListed) {
  TempDir dir;
  const auto error = error_after_edit(dir, [](auto& state) {
    state.erase("deconv2.conv2d.bias");
    state.erase("in4.weight");
  });
  EXPECT_NE(error.find("2 tensors missing"), std::string::npos) << error;
  EXPECT_NE(error.find("deconv2.conv2d.bias"), std::string::npos) << error;
  EXPECT_NE(error.find("in4.weight"), std::string::npos) << error;
}

TEST(ModelFile, UnknownTensorIsRejected) {
  TempDir dir;
  const auto error = error_after_edit(dir, [](auto& state) { state["res2.conv1.conv2d.weight"] = torch::zeros({16, 16, 3, 3}); });
  EXPECT_NE(error.find("1 unknown tensors"), std::string::npos) << error;
  EXPECT_NE(error.find("res2.conv1.conv2d.weight"), std::string::npos) << error;
}

TEST(ModelFile, IntegerTensorIsRejected) {
  TempDir dir;
  const auto error = error_after_edit(dir, [](auto& state) { state["in1.bias"] = torch::zeros({4}, torch::kInt64); });
  EXPECT_NE(error.find("'in1.bias' has integer dtype"), std::string::npos) << error;
}

TEST(ModelFile, WrongFormatVersionOrArchitectureIsRejected) {
  TempDir dir;
  auto metadata = metadata_for(random_net()->options());
  auto with = [&](const std::string& key, const std::string& value) {
    auto m = metadata;
    if (value.empty()) m.erase(key); else m[key] = value;
    return error_after_edit(dir, [](auto&) {}, m);
  };
  EXPECT_NE(with("format", "something-else").find("not a style model: format 'something-else'"), std::string::npos);
  EXPECT_NE(with("format_version", "2").find("format version 2 is not supported"), std::string::npos);
  EXPECT_NE(with("format_version", "one").find("format_version 'one' is not a number"), std::string::npos);
  EXPECT_NE(with("format_version", "").find("format_version missing"), std::string::npos);
  EXPECT_NE(with("architecture", "").find("architecture missing"), std::string::npos);
  EXPECT_NE(with("architecture", "{\"width\": 4, \"res_blocks\": 1, \"norm\": \"group\"}").find("model.norm must be"),
            std::string::npos);
  EXPECT_NE(with("architecture", "{\"width\": 4, \"colour\": 1}").find("unknown architecture option 'colour'"),
            std::string::npos);
  EXPECT_NE(with("architecture", "{not json").find("bad architecture metadata"), std::string::npos);
  EXPECT_NE(with("provenance", "{not json").find("provenance metadata is not valid JSON"), std::string::npos);
  EXPECT_EQ(with("provenance", ""), "");  // provenance is optional
}

TEST(ModelFile, MissingOrNonModelFileIsRejected) {
  TempDir dir;
  EXPECT_NE(load_error(dir / "absent.safetensors").find(dir / "absent.safetensors: no such file"), std::string::npos);
  write_bytes(dir / "text.safetensors", "this is not a model file at all, just some text\n");
  EXPECT_NE(load_error(dir / "text.safetensors").find(dir / "text.safetensors: "), std::string::npos);
}

TEST(ModelFile, HalfPrecisionTensorsLoad) {
  TempDir dir;
  for (auto dtype : {torch::kFloat16, torch::kBFloat16}) {
    auto net = random_net();
    auto state = state_of(net);
    for (auto& [name, tensor] : state) tensor = tensor.to(dtype);
    write_safetensors(dir / "half.safetensors", state, metadata_for(net->options()));
    auto loaded = load_model(dir / "half.safetensors");
    const auto original = state_of(net), actual = state_of(loaded.net);
    for (const auto& [name, tensor] : original) {
      EXPECT_EQ(actual.at(name).scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::allclose(actual.at(name), tensor, 1e-2, 1e-2)) << name;
      EXPECT_TRUE(torch::equal(actual.at(name), state.at(name).to(torch::kFloat32))) << name;
    }
  }
}

TEST(ModelFile, StaleRunningStatisticsAreDroppedWithAWarning) {
  TempDir dir;
  auto net = random_net();
  auto state = state_of(net);
  state["in1.running_mean"] = torch::zeros({4});
  state["in1.running_var"] = torch::ones({4});
  state["res1.in2.running_mean"] = torch::zeros({16});
  write_safetensors(dir / "old.safetensors", state, metadata_for(net->options()));
  auto loaded = load_model(dir / "old.safetensors");
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_NE(loaded.warnings[0].find("ignored 3 stale running statistics"), std::string::npos) << loaded.warnings[0];
  EXPECT_TRUE(torch::equal(state_of(loaded.net).at("in1.weight"), state.at("in1.weight")));
}

TEST(ModelFile, PlainStateDictWithoutMetadataLoadsWithGuessedArchitecture) {
  TempDir dir;
  TransformerNet wider(TransformerNetOptions().width(8).res_blocks(3));
  write_safetensors(dir / "plain.safetensors", state_of(wider));
  auto loaded = load_model(dir / "plain.safetensors");
  EXPECT_EQ(loaded.net->options().width(), 8);
  EXPECT_EQ(loaded.net->options().res_blocks(), 3);
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_NE(loaded.warnings[0].find("no nst metadata"), std::string::npos);
  // A plain file that is something else entirely is still refused.
  write_safetensors(dir / "other.safetensors", {{"features.0.weight", torch::zeros({64, 3, 3, 3})}});
  EXPECT_NE(load_error(dir / "other.safetensors").find("tensors missing"), std::string::npos);
}

TEST(ModelFile, SavingNonFiniteWeightsIsRefused) {
  TempDir dir;
  auto net = random_net();
  {
    torch::NoGradGuard no_grad;
    net->named_parameters()["in2.weight"][0] = std::nan("");
  }
  EXPECT_THROW(save_model(dir / "nan.safetensors", net, {}), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(dir / "nan.safetensors"));
}

}  // namespace
}  // namespace nst
