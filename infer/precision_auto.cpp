#include "infer/precision_auto.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "infer/stylizer.h"

namespace nst {

std::string inference_workload(const TransformerNetOptions& net, cv::Size size) {
  return "nst-infer net " + net.to_json().dump() + " at ~" + std::to_string(size_class(std::max(size.width, size.height))) +
         " px";
}

Precision resolve_inference_precision(TransformerNet& net, torch::Device device, cv::Size size, std::ostream& report,
                                      const std::string& cache_directory) {
  // Timed at the size class (512 px at most), not the image's own size: tiny images would time noise.
  const int longest = std::max(size.width, size.height);
  const double shrink = static_cast<double>(std::min<int64_t>(size_class(longest), 512)) / longest;
  auto side = [&](int pixels) {
    const int64_t m = TransformerNetImpl::kSizeMultiple;
    return std::max(TransformerNetImpl::kMinSide, static_cast<int64_t>(std::lround(pixels * shrink)) / m * m);
  };
  const auto input = (torch::rand({1, 3, side(size.height), side(size.width)}) * 255).to(device);
  std::map<Precision, Stylizer> stylizers;  // built on first use: the bf16 copy only if it is timed
  auto time_run = [&](Precision precision) {
    auto it = stylizers.find(precision);
    if (it == stylizers.end())
      it = stylizers.emplace(precision, Stylizer(copy_net(net), device, StylizeOptions().precision(precision))).first;
    const auto start = std::chrono::steady_clock::now();
    it->second.forward(input);
    if (device.is_cuda()) torch::cuda::synchronize();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  return choose_precision("nst-infer", "--precision", inference_workload(net->options(), size), device, time_run, report,
                          cache_directory);
}

}  // namespace nst
