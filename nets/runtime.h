// Where and how the networks run: intra-op threads and device choice, shared by every executable.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

namespace nst {

// Cores this process may use (sched_getaffinity), at least 1.
int available_cores();

// Sets LibTorch's intra-op threads: requested > 0, else all available cores (Debian's LibTorch
// would default to 1 here). Returns the number set.
int configure_threads(int requested);

// "auto" (CUDA if present, else CPU), "cpu" or "cuda[:N]". Throws a clear error for an unknown name
// or for cuda on a build or machine without it.
torch::Device pick_device(const std::string& name);

// Runs a tool's main body: any exception becomes one line "TOOL: error: MESSAGE" on stderr (no
// LibTorch backtrace) and exit status 1. Every executable's main() is `return run_tool("nst-x", [&] {...});`.
int run_tool(const std::string& tool, const std::function<int()>& body);

}  // namespace nst
