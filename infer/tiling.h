// The tiling of Stylizer's tiles (stylizer_tiles.cpp), one axis at a time; its own header so the
// tests can check it without the stylizer.
#pragma once
#include <cstdint>
#include <vector>

namespace nst {

// One axis of a tiling, in the padded frame: the core [core_begin, core_end) a tile contributes and
// the tile with its context [tile_begin, tile_end), all multiples of 4.
struct TileSpan {
  int64_t core_begin, core_end, tile_begin, tile_end;
};

// A padded side cut into as few cores of at most `core` as cover it, of equal length (a multiple of
// 4; the last may be shorter), and tiles all of one length: the core plus `margin` each side,
// shifted inward at the frame's edges (context up to the edge is all the whole image has there).
// One tile shape lets the allocator hand the same blocks to tile after tile.
std::vector<TileSpan> tile_spans(int64_t padded, int64_t core, int64_t margin);

}  // namespace nst
