// A structural check of LibTorch's zip archive (torch::serialize, used by checkpoints) before
// LibTorch reads it: LibTorch 1.13's PyTorchStreamReader leaks its zip state (~17 KB) whenever its
// constructor throws on a damaged archive (found by tests/fuzz checkpoint; docs/robustness.md), and
// its error messages name zip internals. Checked here instead: the central directory (zip64 too),
// every entry's local header and data inside the file with a matching CRC-32 (deflated entries
// inflated to check it: LibTorch's miniz skips the CRC, so a damaged TorchScript record would reach
// its compiler), one top-level folder, and the version record LibTorch requires.
#pragma once
#include <string>
#include <string_view>

namespace nst {

// Throws path_error(path, "not a checkpoint archive (...)") naming the first problem.
void check_torch_archive(const std::string& path, std::string_view bytes);

}  // namespace nst
