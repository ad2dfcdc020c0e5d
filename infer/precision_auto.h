// nst-infer --precision auto (the default): the faster of fp32 and bf16 for this net at about this
// image size on this machine, timed once and remembered (data/precision_cache.h).
#pragma once
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <ostream>
#include <string>

#include "data/precision_cache.h"
#include "nets/transformer_net.h"

namespace nst {

// "nst-infer net {architecture} at ~N px", N = size_class of the longest side.
std::string inference_workload(const TransformerNetOptions& net, cv::Size size);

// The cached or measured choice for stylizing images of `size` (after --scale/--max-size). The trial
// forwards copies of `net` on an input of that shape scaled to its size class, at most 512 px (each
// run well under a second; the fp32/bf16 ratio is what matters).
Precision resolve_inference_precision(TransformerNet& net, torch::Device device, cv::Size size, std::ostream& report,
                                      const std::string& cache_directory = default_cache_directory());

}  // namespace nst
