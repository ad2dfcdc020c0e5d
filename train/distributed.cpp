#include "train/distributed.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <thread>

namespace nst {
namespace {

using Clock = std::chrono::steady_clock;

// How long the ranks that saw a collective fail wait for each other's reports (see fail()).
constexpr std::chrono::seconds kFailureGrace{2};
constexpr int64_t kBucketBytes = 25 << 20;  // as DistributedDataParallel's default bucket_cap_mb

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

int env_int(const char* name, int min, int max, std::optional<int> fallback = std::nullopt) {
  const auto text = env(name);
  if (!text) {
    if (fallback) return *fallback;
    throw std::runtime_error(std::string(name) + " is not set (data-parallel launch: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
  }
  char* end = nullptr;
  const long value = std::strtol(text->c_str(), &end, 10);
  if (*end != '\0' || value < min || value > max)
    throw std::runtime_error(std::string(name) + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                             ", got '" + *text + "'");
  return static_cast<int>(value);
}

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// The network interface Gloo uses: GLOO_SOCKET_IFNAME as in PyTorch, loopback for a local job,
// else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const auto interface = env("GLOO_SOCKET_IFNAME")) return c10d::ProcessGroupGloo::createDeviceForInterface(*interface);
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Gradients flattened into buckets of at most kBucketBytes (whole tensors; a larger tensor is a
// bucket of its own), each summed with one allreduce.
std::vector<std::vector<torch::Tensor>> buckets_of(const std::vector<torch::Tensor>& tensors) {
  std::vector<std::vector<torch::Tensor>> buckets(1);
  int64_t bytes = 0;
  for (const auto& tensor : tensors) {
    const int64_t size = tensor.numel() * static_cast<int64_t>(tensor.element_size());
    if (!buckets.back().empty() && bytes + size > kBucketBytes) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(tensor);
    bytes += size;
  }
  return buckets;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& tensors, torch::Device device) {
  std::vector<torch::Tensor> flat;
  for (const auto& tensor : tensors) flat.push_back(tensor.detach().reshape({-1}).to(device));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
  int64_t offset = 0;
  for (const auto& tensor : tensors) {
    tensor.copy_(flat.narrow(0, offset, tensor.numel()).view_as(tensor));
    offset += tensor.numel();
  }
}

}  // namespace

std::optional<LaunchEnvironment> launch_environment() {
  if (!env("WORLD_SIZE")) return std::nullopt;
  LaunchEnvironment launch;
  launch.world_size = env_int("WORLD_SIZE", 1, 1 << 20);
  if (launch.world_size == 1) return std::nullopt;
  launch.rank = env_int("RANK", 0, launch.world_size - 1);
  launch.local_world_size = env_int("LOCAL_WORLD_SIZE", 1, launch.world_size, 1);
  launch.local_rank = env_int("LOCAL_RANK", 0, launch.local_world_size - 1, launch.local_world_size == 1 ? 0 : -1);
  const auto addr = env("MASTER_ADDR");
  if (!addr) throw std::runtime_error("MASTER_ADDR is not set (the host of rank 0, for the rendezvous)");
  launch.master_addr = *addr;
  launch.master_port = env_int("MASTER_PORT", 1, 65535);
  return launch;
}

struct DataParallelGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  torch::Device buffers{torch::kCPU};  // where the flattened buckets live for the collective
};

DataParallelGroup::DataParallelGroup(const LaunchEnvironment& launch, [[maybe_unused]] torch::Device device,
                                     std::chrono::milliseconds timeout)
    : launch_(launch), impl_(std::make_unique<Impl>()) {
  const std::string where = launch.master_addr + ":" + std::to_string(launch.master_port);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(launch.master_port);
    store_options.isServer = launch.rank == 0;
    store_options.numWorkers = launch.world_size;
    store_options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(launch.master_addr, store_options);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(launch.rank) + ": rendezvous at " + where + " failed within " +
                             std::to_string(timeout.count() / 1000) + " s (did every rank start, with the same MASTER_ADDR, " +
                             "MASTER_PORT and WORLD_SIZE?): " + c10::GetExceptionString(e));
  }
  try {
#ifdef USE_C10D_NCCL
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, launch.rank, launch.world_size, options);
      impl_->buffers = device;
    }
#endif
    if (!impl_->group) {  // Gloo, on CPU buffers (a CUDA build without NCCL copies the buckets)
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(gloo_device(launch.master_addr));
      impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, launch.rank, launch.world_size, options);
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(launch.rank) + ": cannot connect the process group via " + where + ": " +
                             c10::GetExceptionString(e));
  }
}

DataParallelGroup::~DataParallelGroup() = default;

template <typename F>
void DataParallelGroup::collective(const std::string& what, F&& body) {
  const auto start = Clock::now();
  try {
    body();
  } catch (const std::exception& e) {
    fail(what, c10::GetExceptionString(e));
  }
  communication_seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
}

// Names the ranks that did not report the failure within kFailureGrace: each rank that sees it
// leaves a key in the store; a rank that died or hangs leaves none. Rank 0 hosts the store, so it
// waits a little longer before it exits; when the store itself is gone, rank 0 is the one missing.
void DataParallelGroup::fail(const std::string& what, const std::string& cause) {
  std::string missing;
  try {
    impl_->store->set("nst/failed/" + std::to_string(rank()), std::vector<uint8_t>{1});
    std::this_thread::sleep_for(kFailureGrace);
    for (int other = 0; other < world_size(); ++other)
      if (other != rank() && !impl_->store->check({"nst/failed/" + std::to_string(other)}))
        missing += (missing.empty() ? "" : ", ") + std::to_string(other);
    if (is_main()) std::this_thread::sleep_for(kFailureGrace);
  } catch (const std::exception&) {
    missing = is_main() ? "" : "0 (it hosts the rendezvous store)";
  }
  std::string first_line = cause.substr(0, cause.find('\n'));
  throw std::runtime_error("rank " + std::to_string(rank()) + ": " + what + " failed: " +
                           (missing.empty() ? std::string("another rank failed") : "rank " + missing + " died or stopped responding") +
                           " (" + first_line + ")");
}

std::vector<double> DataParallelGroup::average_gradients(const std::vector<torch::Tensor>& parameters,
                                                         const std::vector<double>& values) {
  std::vector<torch::Tensor> gradients;
  for (const auto& parameter : parameters) {
    if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
    gradients.push_back(parameter.grad());
  }
  const auto buckets = buckets_of(gradients);
  std::vector<torch::Tensor> flats;
  torch::Tensor sums = torch::tensor(values, torch::kFloat64).to(impl_->buffers);
  collective("gradient allreduce", [&] {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (const auto& bucket : buckets) {
      flats.push_back(flatten(bucket, impl_->buffers));
      std::vector<at::Tensor> one{flats.back()};
      works.push_back(impl_->group->allreduce(one));
    }
    std::vector<at::Tensor> one{sums};
    works.push_back(impl_->group->allreduce(one));
    for (auto& work : works) work->wait();
  });
  for (size_t i = 0; i < buckets.size(); ++i) unflatten_into(flats[i].div_(world_size()), buckets[i]);
  sums = sums.cpu();
  return std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
}

void DataParallelGroup::broadcast_from_main(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const auto& bucket : buckets_of(tensors)) {
    std::vector<at::Tensor> one{flatten(bucket, impl_->buffers)};
    collective("broadcast of the initial weights", [&] { impl_->group->broadcast(one)->wait(); });
    unflatten_into(one[0], bucket);
  }
}

int64_t DataParallelGroup::sum(int64_t value, const std::string& what) {
  std::vector<at::Tensor> one{torch::tensor({value}, torch::kInt64).to(impl_->buffers)};
  collective(what, [&] { impl_->group->allreduce(one)->wait(); });
  return one[0].cpu().item<int64_t>();
}

void DataParallelGroup::expect_same(int64_t value, const std::string& what) {
  std::vector<at::Tensor> one{torch::tensor({value, -value}, torch::kInt64).to(impl_->buffers)};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::MAX;
  collective("comparing " + what, [&] { impl_->group->allreduce(one, options)->wait(); });
  const auto extremes = one[0].cpu();
  const int64_t high = extremes[0].item<int64_t>(), low = -extremes[1].item<int64_t>();
  if (high != low)
    throw std::runtime_error("rank " + std::to_string(rank()) + ": " + what + " differs between ranks (" + std::to_string(low) +
                             " to " + std::to_string(high) + ", this rank " + std::to_string(value) + ")");
}

void DataParallelGroup::barrier(const std::string& what) {
  collective(what, [&] { impl_->group->barrier()->wait(); });
}

ShardedBatches::ShardedBatches(std::vector<std::string> files, LoaderOptions options, int64_t global_batch, int64_t position,
                               DataParallelGroup& group)
    : files_(std::move(files)), options_(options), global_batch_(global_batch),
      local_batch_(global_batch / group.world_size()), position_(position), group_(group) {
  if (global_batch % group.world_size() != 0)
    throw std::runtime_error("config: train.batch_size (" + std::to_string(global_batch) + ") must be divisible by the " +
                             std::to_string(group.world_size()) + " ranks (WORLD_SIZE)");
  start_slices();
}

void ShardedBatches::start_slices() {
  LoaderOptions sliced = options_;
  sliced.slice_block(global_batch_).slice_offset(group_.rank() * local_batch_).slice_take(local_batch_);
  slices_.reset();  // the earlier stream's threads stop first
  slices_ = std::make_unique<ImageLoader>(files_, sliced, position_);
}

torch::Tensor ShardedBatches::next_batch() {
  const std::vector<torch::Tensor> images = slices_->next_unskipped(local_batch_);
  int64_t unreadable = 0;
  for (const auto& image : images) unreadable += image.defined() ? 0 : 1;
  if (group_.sum(unreadable, "agreeing on the batch") == 0) {
    position_ += global_batch_;
    return torch::stack(images);
  }
  // Rare: a file of this batch failed somewhere. Read the whole batch as one process would.
  ImageLoader whole(files_, options_, position_);
  const torch::Tensor batch = whole.next_batch(global_batch_);
  for (auto& bad : whole.take_new_skipped())
    if (skipped_.emplace(bad.path, bad.reason).second) new_skipped_.push_back(std::move(bad));
  position_ = whole.position();
  start_slices();
  return batch.narrow(0, group_.rank() * local_batch_, local_batch_).clone();
}

std::vector<SkippedImage> ShardedBatches::take_new_skipped() {
  std::vector<SkippedImage> out;
  out.swap(new_skipped_);
  return out;
}

}  // namespace nst
