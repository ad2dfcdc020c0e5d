// Applying a trained transform net to one image of any size: resize (--max-size/--scale), pad to
// what the net needs and crop back, precision (fp32 | bf16), memory check, tiles with thumbnail
// instance normalization (huge images), stroke scale, colour preservation and strength blending.
// Batch drivers (folders, videos) build on this.
#pragma once
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <functional>
#include <string>

#include "core/precision.h"
#include "nets/packed_transformer_net.h"
#include "nets/transformer_net.h"

namespace nst {

struct StylizeOptions {
  TORCH_ARG(int64_t, max_size) = 0;            // longest side after resizing; 0 = no limit (never upscales)
  TORCH_ARG(double, scale) = 1.0;              // resize factor applied before max_size
  TORCH_ARG(bool, preserve_color) = false;     // keep the content's chroma, take luminance from the stylized image
  TORCH_ARG(double, strength) = 1.0;           // 0 = content, 1 = fully stylized
  TORCH_ARG(Precision, precision) = Precision::fp32;
  TORCH_ARG(int64_t, tile) = 0;                // >0: tiles of this side (plus context) for larger images; 0 = only when memory needs it
  TORCH_ARG(int64_t, thumbnail) = 1024;        // tiles: longest side of the copy whose instance-norm statistics all tiles share
  TORCH_ARG(double, stroke_scale) = 1.0;       // >1 larger strokes (stylize at 1/S resolution), <1 finer
  TORCH_ARG(bool, stroke_detail) = false;      // stroke_scale > 1: add back the content's full-resolution luminance detail
  TORCH_ARG(bool, packed) = true;              // CPU: the packed channels-last forward where the architecture allows (nets/packed_transformer_net.h)

 public:
  void validate() const;  // throws naming the bad option (as nst-infer spells it)
};

// Size an image of h x w gets after --scale and --max-size (each side at least 1).
cv::Size target_size(int64_t height, int64_t width, const StylizeOptions& options);

class Stylizer {
 public:
  // Moves the net to `device`; bf16 converts its weights (see docs/inference.md for the error).
  Stylizer(TransformerNet net, torch::Device device, StylizeOptions options);

  // 8- or 16-bit BGR in, BGR of the same depth and of target_size() out. Tiled images are read
  // and written tile by tile, so memory beyond the two images is bounded by the tile. Throws a
  // message without the file name.
  cv::Mat stylize(const cv::Mat& bgr);
  // The same for an image already at target_size() (a video frame resized once for the net and
  // the temporal blend): not resized again.
  cv::Mat stylize_resized(const cv::Mat& content);

  // Float RGB [3,H,W] 0..255 in (any device), float RGB [3,H,W] 0..255 on the CPU out, same size
  // (no --scale/--max-size here; stroke_scale resizes internally). Tiles as tile_core() says.
  torch::Tensor stylize_tensor(const torch::Tensor& rgb);

  // The net alone on a [N,3,H,W] batch whose sides already satisfy the net: pad-free forward in the
  // configured precision, float32 result on the net's device. For benchmarks and tests.
  torch::Tensor forward(const torch::Tensor& batch);

  // Rough peak bytes a forward pass at h x w needs (activations), used to refuse images that would
  // exhaust memory.
  int64_t estimated_bytes(int64_t height, int64_t width) const;

  // Side of the square tile cores an h x w image (after stroke scaling) is stylized in, a multiple
  // of 4: 0 = whole image; options.tile when the image is larger than that; otherwise, when the
  // whole image would not fit in the available memory, the largest core whose tile fits
  // kAutoTileBytes. `image_bytes`: memory the caller's images take beside the tiles; throws the
  // --max-size advice when even tiles would not fit.
  int64_t tile_core(int64_t height, int64_t width, int64_t image_bytes) const;
  static constexpr int64_t kAutoTileBytes = int64_t{1} << 30;

  // Net input size for an image of h x w at options.stroke_scale (each side at least 1).
  cv::Size stroke_size(int64_t height, int64_t width) const;

  const StylizeOptions& options() const { return options_; }
  torch::Device device() const { return device_; }

 private:
  // Tiled images are read and written through these, so they can live in a cv::Mat or a tensor:
  // read gives float RGB [1,3,h,w] 0..255 of the image's rows top.. and columns left..; write
  // receives a stylized region of the same kind.
  using ReadRegion = std::function<torch::Tensor(int64_t top, int64_t left, int64_t height, int64_t width)>;
  using WriteRegion = std::function<void(int64_t top, int64_t left, const torch::Tensor& rgb)>;

  TransformerNet net_;
  std::optional<PackedTransformerNet> packed_;  // the CPU forward, when options.packed and the architecture allows
  torch::Tensor stylize_whole(const torch::Tensor& content);  // pad, check memory, forward, crop
  // Thumbnail instance normalization: tiles of `core` (+ receptive_radius context, cut on the
  // padded frame stylize_whole would use, so the stride grids line up) all normalized with the
  // statistics of `thumbnail` ([3,h,w]); cores written side by side. finish: colour and strength.
  void stylize_tiles(int64_t height, int64_t width, int64_t core, const torch::Tensor& thumbnail,
                     const ReadRegion& read, const WriteRegion& write, bool finish);
  torch::Tensor thumbnail_of(const cv::Mat& content) const;  // [3,h,w] float, longest side <= options.thumbnail
  cv::Mat stylize_mat(const cv::Mat& content, bool finish);   // at the content's size, tiled if needed
  torch::Tensor stylize_tensor_at_size(const torch::Tensor& rgb, bool finish);  // [3,H,W] on the CPU
  torch::Tensor finish(const torch::Tensor& content, torch::Tensor stylized) const;  // preserve colour, strength
  // stroke_scale: `stylized` (target size, upscaled or downscaled) gets the content's lost luminance
  // detail (stroke_detail) and the finish, in bands of rows to bound memory.
  void finish_in_bands(const cv::Mat& content, const cv::Mat& net_input, cv::Mat& stylized) const;
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
// The side pad_for_net pads `side` to.
int64_t padded_side(int64_t side, int64_t multiple, int64_t min_side);
// Pads the last two axes by the given amounts, the same way (reflect if it can, else replicate).
torch::Tensor pad_sides(const torch::Tensor& batch, int64_t top, int64_t bottom, int64_t left, int64_t right);


}  // namespace nst
