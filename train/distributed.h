// Data-parallel training on PyTorch's own c10d: the torchrun / Slurm / Kubernetes launch contract
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), a process group over a
// TCPStore rendezvous (Gloo; NCCL for CUDA devices in builds with USE_C10D_NCCL), bucketed gradient
// averaging, and each rank's slice of every global batch in the single-process data order.
// Without the variables nst-train is one process and none of this runs. See docs/scaling.md.
#pragma once
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace nst {

struct LaunchEnvironment {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  // ranks on this machine (threads are shared among them)
  std::string master_addr;                   // where rank 0 listens for the rendezvous
  int master_port = 0;
};

// From the environment; nullopt when WORLD_SIZE is unset or 1 (one process). Throws one line for
// a missing or invalid variable.
std::optional<LaunchEnvironment> launch_environment();

// One process group of the run. Every collective is bounded by `timeout`; a failure (a rank died
// or stopped responding) throws one line naming the rank(s) that did not report the failure.
class DataParallelGroup {
 public:
  DataParallelGroup(const LaunchEnvironment& launch, torch::Device device, std::chrono::milliseconds timeout);
  ~DataParallelGroup();
  DataParallelGroup(const DataParallelGroup&) = delete;
  DataParallelGroup& operator=(const DataParallelGroup&) = delete;

  int rank() const { return launch_.rank; }
  int world_size() const { return launch_.world_size; }
  bool is_main() const { return launch_.rank == 0; }

  // Averages the gradients of `parameters` over the ranks (flattened into buckets of at most
  // 25 MiB, one allreduce each) and returns `values` summed over the ranks (losses, flags).
  std::vector<double> average_gradients(const std::vector<torch::Tensor>& parameters, const std::vector<double>& values);
  // Copies rank 0's tensors into every rank's (the initial weights).
  void broadcast_from_main(const std::vector<torch::Tensor>& tensors);
  int64_t sum(int64_t value, const std::string& what);
  // Throws "WHAT differs between ranks" unless every rank passes the same value.
  void expect_same(int64_t value, const std::string& what);
  void barrier(const std::string& what);

  // Seconds spent in collectives (including waiting for slower ranks) since construction.
  double communication_seconds() const { return communication_seconds_; }

 private:
  struct Impl;
  template <typename F>
  void collective(const std::string& what, F&& body);
  [[noreturn]] void fail(const std::string& what, const std::string& cause);

  LaunchEnvironment launch_;
  std::unique_ptr<Impl> impl_;
  double communication_seconds_ = 0;
};

// This rank's share of each global batch: of the `global_batch` consecutive stream positions a
// single process would read, the rank takes positions [rank*b, rank*b + b), b = global_batch /
// world_size, decoding only those. When any rank meets an unreadable file, every rank reads that
// batch whole, as one process would (skipping the file), so the data order stays the same.
class ShardedBatches {
 public:
  ShardedBatches(std::vector<std::string> files, LoaderOptions options, int64_t global_batch, int64_t position,
                 DataParallelGroup& group);
  torch::Tensor next_batch();  // [b,3,S,S]
  int64_t position() const { return position_; }  // the global stream position (checkpoints)
  int64_t epoch() const { return position_ / static_cast<int64_t>(files_.size()); }
  std::vector<SkippedImage> take_new_skipped();
  size_t skipped_count() const { return skipped_.size(); }

 private:
  void start_slices();

  std::vector<std::string> files_;
  LoaderOptions options_;
  int64_t global_batch_, local_batch_, position_;
  DataParallelGroup& group_;
  std::unique_ptr<ImageLoader> slices_;
  std::map<std::string, std::string> skipped_;
  std::vector<SkippedImage> new_skipped_;
};

}  // namespace nst
