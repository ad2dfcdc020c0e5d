#include "core/runtime.h"

#include <malloc.h>
#include <sched.h>

#include <fstream>
#include <stdexcept>
#include <thread>

namespace nst {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

int configure_threads(int requested) {
  if (requested < 0 || requested > kMaxThreads)
    throw std::runtime_error("threads " + std::to_string(requested) + " is out of range 0.." + std::to_string(kMaxThreads) +
                             " (0 = all cores)");
  const int threads = requested > 0 ? requested : available_cores();
  torch::set_num_threads(threads);
  return threads;
}

torch::Device pick_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw std::runtime_error("device '" + name + "' requested but no CUDA device is available (use --device cpu)");
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
      throw std::runtime_error("invalid device '" + name + "' (expected auto, cpu, cuda or cuda:N)");
    }
  }
  throw std::runtime_error("unknown device '" + name + "' (expected auto, cpu, cuda or cuda:N)");
}

namespace {

// Free bytes in glibc's heap. The first mallinfo2 call initializes glibc's malloc state when nothing
// has used that malloc yet (ASan, or jemalloc preloaded, replace it), and two threads making that
// first call together crash in int_mallinfo (seen in CI: two image loader threads); a static makes
// one thread do it first.
int64_t free_heap_bytes() {
  static const bool initialized [[maybe_unused]] = (mallinfo2(), true);
  return static_cast<int64_t>(mallinfo2().fordblks);
}

}  // namespace

int64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t value;
  std::string unit;
  while (meminfo >> key >> value) {
    std::getline(meminfo, unit);
    if (key == "MemAvailable:") return value * 1024 + free_heap_bytes();
  }
  return -1;
}

void reuse_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace nst
