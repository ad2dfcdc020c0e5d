#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <regex>

#include "core/errors.h"
#include "core/file_checks.h"
#include "data/atomic_file.h"
#include "train/provenance.h"
#include "train/train_options.h"
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

namespace {

// The archive is followed by this line and the SHA-256 of the archive's bytes: LibTorch's reader
// does not check the zip's CRCs, so without it a flipped byte in a tensor would resume silently.
constexpr std::string_view kChecksumTag = "\nnst-sha256:";
constexpr size_t kTrailerSize = kChecksumTag.size() + 64 + 1;  // tag, hex digest, newline
constexpr int64_t kMaxPosition = int64_t{1} << 40;

// The archive's bytes, verified against the trailer; files from before the trailer existed are
// accepted with a warning.
std::string_view verified_archive(const std::string& path, const std::string& bytes, std::vector<std::string>& warnings) {
  const size_t tag_at = bytes.size() >= kTrailerSize ? bytes.size() - kTrailerSize : std::string::npos;
  if (tag_at == std::string::npos || bytes.compare(tag_at, kChecksumTag.size(), kChecksumTag) != 0) {
    warnings.push_back(path + ": no checksum (written by an older nst?); its contents cannot be verified");
    return bytes;
  }
  const std::string_view archive(bytes.data(), tag_at);
  if (sha256_bytes(archive) != bytes.substr(tag_at + kChecksumTag.size(), 64))
    throw path_error(path, "checksum mismatch: the file is damaged (changed or truncated bytes)");
  return archive;
}

// Everything a checkpoint says is untrusted: LibTorch's Module::load replaces a parameter even by
// one of another shape, and the iteration and data position index arrays later.
void check_restored(const std::string& path, TransformerNet& net, torch::optim::Optimizer& optimizer,
                    const std::vector<std::vector<int64_t>>& shapes, const CheckpointState& state) {
  if (state.iteration < 0 || state.iteration > kMaxIterations)
    throw path_error(path, "iteration " + std::to_string(state.iteration) + " is out of range (damaged file?)");
  if (state.data_position < 0 || state.data_position > kMaxPosition)
    throw path_error(path, "data position " + std::to_string(state.data_position) + " is out of range (damaged file?)");
  const auto parameters = net->parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i].sizes().vec() != shapes[i])
      throw path_error(path, "parameter " + std::to_string(i) + " has shape " + shape_text(parameters[i].sizes()) +
                                 ", the net needs " + shape_text(shapes[i]) + " (another architecture?)");
    if (!torch::isfinite(parameters[i]).all().item<bool>())
      throw path_error(path, "parameter " + std::to_string(i) + " has NaN or infinite values");
  }
  for (const auto& group : optimizer.param_groups())
    for (const auto& parameter : group.params()) {
      const auto found = optimizer.state().find(c10::guts::to_string(parameter.unsafeGetTensorImpl()));  // how LibTorch keys it
      if (found == optimizer.state().end()) continue;  // no step taken yet
      const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(found->second.get());
      if (adam && (adam->exp_avg().sizes() != parameter.sizes() || adam->exp_avg_sq().sizes() != parameter.sizes() || adam->step() < 0))
        throw path_error(path, "optimizer state does not match the net's parameters (damaged file?)");
    }
}

}  // namespace

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
  std::string bytes;
  archive.save_to([&](const void* data, size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  const std::string digest = sha256_bytes(bytes);
  bytes.append(kChecksumTag).append(digest).push_back('\n');
  write_bytes_atomically(path, bytes);
}

CheckpointState load_checkpoint(const std::string& path, TransformerNet& net, torch::optim::Optimizer& optimizer) {
  CheckpointState state;
  const std::string bytes = read_whole_file(path);
  const std::string_view archive_bytes = verified_archive(path, bytes, state.warnings);
  // LibTorch leaks when it rejects a damaged archive, and names zip internals: check first
  // (a file without the checksum trailer reaches here unverified).
  check_torch_archive(path, archive_bytes);
  std::vector<std::vector<int64_t>> shapes;
  std::vector<torch::Tensor> before;  // a failed load leaves the net as it was (the caller may try an older file)
  for (const auto& parameter : net->parameters()) {
    shapes.push_back(parameter.sizes().vec());
    before.push_back(parameter.detach().clone());
  }
  auto restore = [&] {
    torch::NoGradGuard no_grad;
    auto parameters = net->parameters();
    for (size_t i = 0; i < parameters.size(); ++i) parameters[i].set_data(before[i]);
  };
  try {
    torch::serialize::InputArchive archive, model_archive, optimizer_archive;
    archive.load_from(archive_bytes.data(), archive_bytes.size());
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
    check_restored(path, net, optimizer, shapes, state);
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng);
  } catch (const c10::Error& e) {
    restore();
    throw path_error(path, "cannot load checkpoint (" + torch_error_message(e) + ")");
  } catch (const std::runtime_error&) {
    restore();
    throw;  // check_restored's messages name the file already
  } catch (const std::exception& e) {  // e.g. std::length_error from a doctored size
    restore();
    throw path_error(path, std::string("cannot load checkpoint (") + e.what() + ")");
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
