#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "core/errors.h"
#include "data/atomic_file.h"
#include "train/torch_archive.h"

namespace fs = std::filesystem;

namespace nst {

std::string checkpoint_path(const std::string& run_dir, int64_t iteration) {
  char name[64];
  std::snprintf(name, sizeof name, "ckpt_%08lld.pt", static_cast<long long>(iteration));
  return (fs::path(run_dir) / "checkpoints" / name).string();
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::string> paths;
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return paths;
  static const std::regex pattern("ckpt_[0-9]{8}\\.pt");
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (std::regex_match(entry.path().filename().string(), pattern)) paths.push_back(entry.path().string());
  std::sort(paths.begin(), paths.end());  // zero-padded iteration numbers sort in order
  return paths;
}

void save_checkpoint(const std::string& path, TransformerNet& net, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state) {
  fs::create_directories(fs::path(path).parent_path());
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  net->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("iteration", torch::tensor(state.iteration, torch::kInt64));
  archive.write("data_position", torch::tensor(state.data_position, torch::kInt64));
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    archive.write("cpu_rng_state", generator.get_state());
  }
  write_atomically(path, [&](const std::string& tmp) { archive.save_to(tmp); });
}

CheckpointState load_checkpoint(const std::string& path, TransformerNet& net, torch::optim::Optimizer& optimizer) {
  CheckpointState state;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw path_error(path, "cannot open checkpoint (missing or unreadable)");
    // LibTorch leaks when it rejects a damaged archive, and names zip internals: check first.
    check_torch_archive(path, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }
  try {
    torch::serialize::InputArchive archive, model_archive, optimizer_archive;
    archive.load_from(path);
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    net->load(model_archive);
    optimizer.load(optimizer_archive);
    torch::Tensor iteration, position, rng;
    archive.read("iteration", iteration);
    archive.read("data_position", position);
    archive.read("cpu_rng_state", rng);
    state.iteration = iteration.item<int64_t>();
    state.data_position = position.item<int64_t>();
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng);
  } catch (const c10::Error& e) {
    throw path_error(path, "cannot load checkpoint (" + torch_error_message(e) + ")");
  }
  return state;
}

void prune_checkpoints(const std::string& run_dir, int64_t keep) {
  auto paths = list_checkpoints(run_dir);
  const int64_t excess = static_cast<int64_t>(paths.size()) - std::max<int64_t>(1, keep);
  for (int64_t i = 0; i < excess; ++i) {
    std::error_code ec;
    fs::remove(paths[i], ec);
  }
}

}  // namespace nst
