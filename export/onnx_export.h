// A style model as an ONNX graph, written from C++ with libonnx-dev (no Python): what OpenCV DNN,
// onnxruntime and phone converters run. Input "input" [N,3,H,W] and output "output" [N,3,H,W] are
// RGB 0..255 with symbolic N, H, W (H and W multiples of 4, at least 16: pad as nst-infer does).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "nets/transformer_net.h"

namespace nst {

struct OnnxExportOptions {
  int opset = 11;           // 11 or 13 (the graph uses only operators identical in both)
  std::string doc;          // free text stored as the model's doc_string (e.g. the style's name)
  void validate() const;    // throws naming the bad option
};

// The serialized ModelProto of `net` (eval-mode weights, float32), already passed through
// onnx::checker::check_model. Every architecture option is expressible; `provenance` and the
// architecture go into metadata_props.
std::string onnx_model_bytes(TransformerNet& net, const nlohmann::json& provenance, const OnnxExportOptions& options);

// onnx_model_bytes written atomically to `path`; errors are "PATH: problem".
void export_onnx(const std::string& path, TransformerNet& net, const nlohmann::json& provenance,
                 const OnnxExportOptions& options);

// Parses an .onnx file and runs onnx::checker::check_model on it; throws "PATH: problem".
void check_onnx_file(const std::string& path);

}  // namespace nst
