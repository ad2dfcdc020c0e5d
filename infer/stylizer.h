// Applying a trained transform net to one image of any size: resize (--max-size/--scale), pad to
// what the net needs and crop back, precision (fp32 | bf16), memory check, colour preservation and
// strength blending. Batch drivers (folders, videos) build on this.
#pragma once
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <string>

#include "core/precision.h"
#include "nets/transformer_net.h"

namespace nst {

struct StylizeOptions {
  TORCH_ARG(int64_t, max_size) = 0;            // longest side after resizing; 0 = no limit (never upscales)
  TORCH_ARG(double, scale) = 1.0;              // resize factor applied before max_size
  TORCH_ARG(bool, preserve_color) = false;     // keep the content's chroma, take luminance from the stylized image
  TORCH_ARG(double, strength) = 1.0;           // 0 = content, 1 = fully stylized
  TORCH_ARG(Precision, precision) = Precision::fp32;
  TORCH_ARG(int64_t, tile) = 0;                // >0: stylize in overlapping tiles of this side (huge images; 0 = whole image)

 public:
  void validate() const;  // throws naming the bad option (as nst-infer spells it)
};

// Size an image of h x w gets after --scale and --max-size (each side at least 1).
cv::Size target_size(int64_t height, int64_t width, const StylizeOptions& options);

class Stylizer {
 public:
  // Moves the net to `device`; bf16 converts its weights (see docs/inference.md for the error).
  Stylizer(TransformerNet net, torch::Device device, StylizeOptions options);

  // 8-bit BGR in, 8-bit BGR out of target_size(). Throws a message without the file name.
  cv::Mat stylize(const cv::Mat& bgr);

  // Float RGB [3,H,W] 0..255 in (any device), float RGB [3,H,W] 0..255 on the CPU out, same size
  // (no resizing here). With options.tile, images larger than a tile go through stylize_tiles.
  torch::Tensor stylize_tensor(const torch::Tensor& rgb);

  // The net alone on a [N,3,H,W] batch whose sides already satisfy the net: pad-free forward in the
  // configured precision, float32 result on the net's device. For benchmarks and tests.
  torch::Tensor forward(const torch::Tensor& batch);

  // Rough peak bytes a forward pass at h x w needs (activations), used to refuse images that would
  // exhaust memory.
  int64_t estimated_bytes(int64_t height, int64_t width) const;

  // Overlapping tiles (overlap tile/8, at least 16 px) blended with linear ramps. Each tile is
  // normalized on its own (instance norm), so tiles may differ slightly in tone; for images too
  // large to stylize whole. [1,3,H,W] float in, same out, on the device.
  torch::Tensor stylize_tiles(const torch::Tensor& content);

  const StylizeOptions& options() const { return options_; }
  torch::Device device() const { return device_; }

 private:
  TransformerNet net_;
  torch::Tensor stylize_whole(const torch::Tensor& content);  // pad, check memory, forward, crop
  torch::Device device_;
  StylizeOptions options_;
  torch::ScalarType dtype_;
};

// Pads [N,C,H,W] so both sides are multiples of `multiple` and at least `min_side`: reflection
// where the image is big enough, edge replication otherwise. Returns the padded tensor; the
// original sits at (top, left).
struct Padded {
  torch::Tensor tensor;
  int64_t top, left;
};
Padded pad_for_net(const torch::Tensor& batch, int64_t multiple, int64_t min_side);


}  // namespace nst
