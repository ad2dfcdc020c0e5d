// The safetensors container (8-byte little-endian header length, JSON header, raw little-endian
// tensor data): reading with full validation and atomic writing. Model files and loss-network
// weights both use it.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>

namespace nst {

struct SafeTensors {
  std::map<std::string, std::string> metadata;  // the header's "__metadata__" (string -> string)
  std::map<std::string, torch::Tensor> tensors; // in the file's dtype (F32, F16, BF16, F64, I64, I32, U8)
};

// Reads and validates the container: header length and JSON within the file, known dtypes, shapes
// matching byte sizes, offsets in range and non-overlapping. Throws std::runtime_error("PATH: problem").
SafeTensors read_safetensors(const std::string& path);

// Writes tensors (contiguous CPU copies are made as needed) atomically.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace nst
