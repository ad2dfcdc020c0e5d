// libFuzzer target: a style-model file as nst-infer and nst-train (model.init) read it:
// load_model = read_safetensors (container, JSON header, dtypes, offsets) + metadata + architecture
// + tensor names, shapes and values.
#include <cstdint>

#include "data/safetensors.h"
#include "nets/model_file.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// Tiny nets (width 1, no residual blocks: a few KB) so mutations stay cheap; one file per option
// that changes the tensor set, plus F16/BF16 copies and a file without nst metadata.
void write_seeds(const std::string& dir) {
  using namespace nst;
  const auto tiny = [] { return TransformerNetOptions().width(1).res_blocks(0); };
  const std::pair<const char*, TransformerNetOptions> variants[] = {
      {"instance", tiny()},
      {"one_block", tiny().res_blocks(1)},
      {"batch_norm", tiny().norm(NormKind::batch)},
      {"transposed", tiny().upsample(UpsampleKind::transposed)},
      {"zero_tanh", tiny().padding(PaddingKind::zero).output(OutputKind::tanh)},
  };
  for (const auto& [name, options] : variants) {
    TransformerNet net(options);
    save_model(dir + "/" + name + ".safetensors", net, {{"iterations", 1}});
  }
  TransformerNet net(tiny());
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : net->named_parameters()) tensors[item.key()] = item.value().detach();
  write_safetensors(dir + "/no_metadata.safetensors", tensors);
  for (const auto& [name, dtype] : {std::pair{"f16", torch::kFloat16}, std::pair{"bf16", torch::kBFloat16}}) {
    std::map<std::string, torch::Tensor> converted;
    for (const auto& [key, value] : tensors) converted[key] = value.to(dtype);
    write_safetensors(dir + "/" + name + ".safetensors", converted,
                      {{"format", kModelFormat}, {"format_version", "1"}, {"architecture", tiny().to_json().dump()}});
  }
}

}  // namespace

NST_FUZZ_INITIALIZE(write_seeds)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nst::fuzz::write_input("model.safetensors", data, size);
  nst::fuzz::run_may_refuse([&] {
    nst::LoadedModel model = nst::load_model(path);
    // A model that loads must run: a tiny input through the loaded net.
    torch::NoGradGuard no_grad;
    model.net->forward(torch::zeros({1, 3, 16, 16}));
  });
  return 0;
}
