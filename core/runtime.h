// Where and how the networks run: intra-op threads, device choice and memory, shared by every executable.
#pragma once
#include <torch/torch.h>

#include <string>

namespace nst {

// Cores this process may use (sched_getaffinity), at least 1.
int available_cores();

// The most intra-op threads any option accepts: more only spends minutes creating threads.
constexpr int kMaxThreads = 1024;

// Sets LibTorch's intra-op threads: requested > 0, else all available cores (Debian's LibTorch
// would default to 1 here). Returns the number set; throws when requested > kMaxThreads.
int configure_threads(int requested);

// "auto" (CUDA if present, else CPU), "cpu" or "cuda[:N]". Throws a clear error for an unknown name
// or for cuda on a build or machine without it.
torch::Device pick_device(const std::string& name);

// Bytes of memory we can still use: the system's MemAvailable plus what our heap holds free;
// -1 when unknown.
int64_t available_memory_bytes();

// Keeps freed large blocks in the heap (glibc mallopt) instead of unmapping them: each activation
// of a forward pass is tens of MB, and faulting in fresh zeroed pages for every one cost ~20% of
// the stylization time here (docs/inference.md); training and optimization allocate the same way.
// Call once at start-up in tools that run the net repeatedly.
void reuse_freed_memory();

}  // namespace nst
