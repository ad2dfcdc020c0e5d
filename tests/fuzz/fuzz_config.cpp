// libFuzzer target: nst-train's configuration path (ConfigCommandLine::apply, then the tool's
// make_paths_absolute and train_options_from): a YAML config file merged over the defaults, key=value
// overrides, the typed options. Input: the config file's text, then optionally a NUL byte and one
// override per line. A config that is accepted must survive the round trip `nst-train --resume`
// makes (dump to RUN_DIR/config.yaml, merge it again): the same document and options.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/fuzz/fuzz_support.h"
#include "train/train_options.h"

#ifndef NST_SOURCE_DIR
#define NST_SOURCE_DIR "."
#endif

namespace {

void write_seed(const std::string& path, const std::string& file, const std::string& overrides) {
  std::ofstream out(path, std::ios::binary);
  out << file;
  if (!overrides.empty()) out << '\0' << overrides;
}

// The shipped training recipes, the complete defaults, and overrides of each value kind.
void write_seeds(const std::string& dir) {
  for (const char* name : {"cpu_overnight", "johnson2016_vgg16", "quick_demo", "video"}) {
    std::ifstream in(std::string(NST_SOURCE_DIR) + "/configs/" + name + ".yaml");
    std::stringstream text;
    text << in.rdbuf();
    write_seed(dir + "/" + name + ".yaml", text.str(), "run_dir=runs/x\nstyle.images=[a.jpg]");
  }
  write_seed(dir + "/defaults.yaml", nst::make_train_config().dump(), "");
  write_seed(dir + "/overrides_only.yaml", "",
             "run_dir=r\ntrain.lr=1e-4\ntrain.iterations=10\nmodel.norm=batch\nstyle.images=[a.jpg,b.jpg]\n"
             "style.weights=[0.5,0.5]\nloss.style.layers={relu1_2: 1, relu2_2: 2}\ndata.train_dir=photos\n"
             "train.precision=bf16\nloss_network.weights=random\nmodel.init=null");
}

nst::Config parse(const std::string& file_path, const std::string& overrides) {
  nst::Config config = nst::make_train_config();
  config.merge_file(file_path);
  std::istringstream lines(overrides);
  for (std::string line; std::getline(lines, line);) config.apply_override(line);
  nst::make_paths_absolute(config);
  nst::train_options_from(config);
  return config;
}

}  // namespace

NST_FUZZ_INITIALIZE(write_seeds)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string file = input.substr(0, nul);
  const std::string overrides = nul == std::string::npos ? "" : input.substr(nul + 1);
  const std::string path = nst::fuzz::write_input("config.yaml", reinterpret_cast<const uint8_t*>(file.data()), file.size());
  std::string dumped;
  try {
    dumped = parse(path, overrides).dump();
  } catch (const std::exception&) {
    return 0;  // "config: KEY ..." or "PATH: ...": the expected outcome for hostile text
  }
  // Accepted: what --resume reads back must be accepted too, and mean the same.
  const std::string saved = nst::fuzz::write_input("saved.yaml", reinterpret_cast<const uint8_t*>(dumped.data()), dumped.size());
  std::string again;
  try {
    again = parse(saved, "").dump();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "accepted config not accepted on resume: %s\n--- saved ---\n%s\n", e.what(), dumped.c_str());
    std::abort();
  }
  if (again != dumped) {
    std::fprintf(stderr, "resume changes the config\n--- saved ---\n%s\n--- reread ---\n%s\n", dumped.c_str(), again.c_str());
    std::abort();
  }
  return 0;
}
