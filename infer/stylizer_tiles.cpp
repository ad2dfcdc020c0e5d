// Stylizer's tiles for images too large to stylize whole: thumbnail instance normalization (Chen et
// al., AAAI 2022, "URST") so every tile gets the same tone, and tiles cut with the net's receptive
// field as context on the padded frame of the whole image, so each core equals what the whole
// image would give there: no seams, no blending.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/runtime.h"
#include "data/image_io.h"
#include "infer/stylizer.h"
#include "infer/tiling.h"

namespace nst {
namespace {

constexpr int64_t kMultiple = TransformerNetImpl::kSizeMultiple;
constexpr int64_t kMinSide = TransformerNetImpl::kMinSide;

// Resets the net to its own statistics when the tiles are done (or fail).
class FixedStatistics {
 public:
  FixedStatistics(TransformerNet net, const std::vector<NormStatistics>& statistics) : net_(std::move(net)) {
    net_->use_norm_statistics(statistics);
  }
  ~FixedStatistics() { net_->use_norm_statistics({}); }
  FixedStatistics(const FixedStatistics&) = delete;
  FixedStatistics& operator=(const FixedStatistics&) = delete;

 private:
  TransformerNet net_;
};

}  // namespace

// Every tile has the same shape, so the allocator hands the same blocks to tile after tile instead
// of growing the heap with blocks of edge-tile sizes (docs/inference.md, "Huge images").
std::vector<TileSpan> tile_spans(int64_t padded, int64_t core, int64_t margin) {
  const int64_t count = (padded + core - 1) / core;
  const int64_t even = ((padded + count - 1) / count + kMultiple - 1) / kMultiple * kMultiple;
  const int64_t length = std::min(padded, even + 2 * margin);
  std::vector<TileSpan> result;
  for (int64_t begin = 0; begin < padded; begin += even) {
    const int64_t tile_begin = std::max<int64_t>(0, std::min(begin - margin, padded - length));
    result.push_back({begin, std::min(padded, begin + even), tile_begin, tile_begin + length});
  }
  return result;
}

int64_t Stylizer::tile_core(int64_t height, int64_t width, int64_t image_bytes) const {
  if (options_.tile() > 0) return std::max(height, width) > options_.tile() ? options_.tile() / kMultiple * kMultiple : 0;
  const int64_t have = device_.is_cpu() ? available_memory_bytes() : -1;
  const int64_t whole = estimated_bytes(padded_side(height, kMultiple, kMinSide), padded_side(width, kMultiple, kMinSide));
  if (have < 0 || whole <= have) return 0;
  const int64_t tile_context = 2 * net_->receptive_radius();
  int64_t core = 64;
  while (estimated_bytes(core + 64 + tile_context, core + 64 + tile_context) <= kAutoTileBytes) core += 64;
  if (estimated_bytes(core + tile_context, core + tile_context) + image_bytes > have) {
    const double fit = std::sqrt(static_cast<double>(have) / (whole + image_bytes)) * std::max(height, width) * 0.9;
    throw std::runtime_error("image " + std::to_string(width) + "x" + std::to_string(height) +
                             " does not fit in the available memory even in tiles; use --max-size " +
                             std::to_string(static_cast<int64_t>(fit)) + " (or smaller)");
  }
  return core;
}

torch::Tensor Stylizer::thumbnail_of(const cv::Mat& content) const {
  if (std::max(content.rows, content.cols) <= options_.thumbnail()) return mat_to_tensor(content);
  const auto [height, width] = fit_longest_side(content.rows, content.cols, options_.thumbnail());
  return mat_to_tensor(resize_to(content, cv::Size(static_cast<int>(width), static_cast<int>(height))));
}

void Stylizer::stylize_tiles(int64_t height, int64_t width, int64_t core, const torch::Tensor& thumbnail,
                             const ReadRegion& read, const WriteRegion& write, bool finish_it) {
  const int64_t margin = net_->receptive_radius();
  const int64_t tile_side = std::min(core + 2 * margin, padded_side(std::max(height, width), kMultiple, kMinSide));
  const int64_t have = device_.is_cpu() ? available_memory_bytes() : -1;
  if (have >= 0 && estimated_bytes(tile_side, tile_side) > have)
    throw std::runtime_error("a tile of " + std::to_string(tile_side) + " px (--tile plus " + std::to_string(margin) +
                             " px of context each side) does not fit in the available memory; use a smaller --tile");
  std::vector<NormStatistics> statistics;
  if (net_->options().norm() == NormKind::instance) {
    const auto padded = pad_for_net(thumbnail.to(torch::kFloat32).unsqueeze(0), kMultiple, kMinSide).tensor;
    statistics = net_->record_norm_statistics(padded.to(device_, dtype_));
  }
  FixedStatistics fixed(net_, statistics);
  // The padded frame stylize_whole would use: the image sits at (top, left) in it.
  const int64_t padded_h = padded_side(height, kMultiple, kMinSide), padded_w = padded_side(width, kMultiple, kMinSide);
  const int64_t top = (padded_h - height) / 2, left = (padded_w - width) / 2;
  for (const TileSpan& rows : tile_spans(padded_h, core, margin)) {
    for (const TileSpan& cols : tile_spans(padded_w, core, margin)) {
      // The tile's part inside the image, and the padding that rebuilds the rest of the frame.
      const int64_t y0 = std::max<int64_t>(0, rows.tile_begin - top), y1 = std::min(height, rows.tile_end - top);
      const int64_t x0 = std::max<int64_t>(0, cols.tile_begin - left), x1 = std::min(width, cols.tile_end - left);
      const auto content = pad_sides(read(y0, x0, y1 - y0, x1 - x0), y0 + top - rows.tile_begin,
                                     rows.tile_end - (y1 + top), x0 + left - cols.tile_begin, cols.tile_end - (x1 + left));
      auto stylized = forward(content);
      // The core's part inside the image.
      const int64_t c0 = std::max(rows.core_begin, top), c1 = std::min(rows.core_end, top + height);
      const int64_t d0 = std::max(cols.core_begin, left), d1 = std::min(cols.core_end, left + width);
      if (c1 <= c0 || d1 <= d0) continue;
      auto crop = [&](const torch::Tensor& x) {
        return x.narrow(2, c0 - rows.tile_begin, c1 - c0).narrow(3, d0 - cols.tile_begin, d1 - d0);
      };
      auto piece = crop(stylized).to(torch::kCPU);
      if (finish_it) piece = finish(crop(content), piece);
      write(c0 - top, d0 - left, piece.clamp(0, 255));
    }
  }
}

}  // namespace nst
