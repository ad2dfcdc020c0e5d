#include "data/image_header.h"

#include <zlib.h>

#include <algorithm>

namespace nst {
namespace {

uint32_t big_endian(const std::vector<uint8_t>& b, size_t at, int bytes) {
  uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | b[at + i];
  return value;
}

uint32_t little_endian(const std::vector<uint8_t>& b, size_t at, int bytes) {
  uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | b[at + i];
  return value;
}

uint64_t read_uint(const std::vector<uint8_t>& b, bool little, size_t at, int bytes) {
  return little ? little_endian(b, at, bytes) : big_endian(b, at, bytes);
}

bool starts_with(const std::vector<uint8_t>& b, size_t at, const char* text) {
  const size_t n = std::char_traits<char>::length(text);
  if (b.size() < at + n) return false;
  for (size_t i = 0; i < n; ++i)
    if (static_cast<uint8_t>(text[i]) != b[at + i]) return false;  // char may be signed: "\x89" != 0x89
  return true;
}

bool is_png(const std::vector<uint8_t>& b) { return starts_with(b, 0, "\x89PNG\r\n\x1a\n"); }
bool is_jpeg(const std::vector<uint8_t>& b) { return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }
bool is_tiff(const std::vector<uint8_t>& b) {
  return starts_with(b, 0, "II*\0") || starts_with(b, 0, "MM\0*") || starts_with(b, 0, "II+\0") || starts_with(b, 0, "MM\0+");
}
bool is_bmp(const std::vector<uint8_t>& b) { return starts_with(b, 0, "BM"); }
bool is_webp(const std::vector<uint8_t>& b) { return starts_with(b, 0, "RIFF") && starts_with(b, 8, "WEBP"); }

// A JPEG's frame size: the first start-of-frame marker (SOF0..SOF15 but DHT, JPG and DAC).
std::optional<cv::Size> jpeg_size(const std::vector<uint8_t>& b) {
  size_t at = 2;
  while (at + 9 <= b.size()) {
    if (b[at] != 0xFF) return std::nullopt;
    const uint8_t marker = b[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      at += 2;
      continue;
    }
    if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC)
      return cv::Size(static_cast<int>(big_endian(b, at + 7, 2)), static_cast<int>(big_endian(b, at + 5, 2)));
    if (marker == 0xDA || marker == 0xD9) return std::nullopt;  // scan data or end before any frame
    at += 2 + big_endian(b, at + 2, 2);
  }
  return std::nullopt;
}

std::optional<cv::Size> webp_size(const std::vector<uint8_t>& b) {
  if (!is_webp(b) || b.size() < 30) return std::nullopt;
  if (starts_with(b, 12, "VP8 "))
    return cv::Size(static_cast<int>(little_endian(b, 26, 2) & 0x3FFF), static_cast<int>(little_endian(b, 28, 2) & 0x3FFF));
  if (starts_with(b, 12, "VP8L")) {
    const uint32_t bits = little_endian(b, 21, 4);
    return cv::Size(static_cast<int>((bits & 0x3FFF) + 1), static_cast<int>(((bits >> 14) & 0x3FFF) + 1));
  }
  if (starts_with(b, 12, "VP8X"))
    return cv::Size(static_cast<int>(little_endian(b, 24, 3) + 1), static_cast<int>(little_endian(b, 27, 3) + 1));
  return std::nullopt;
}

// A TIFF's first image (what OpenCV decodes): tags ImageWidth (256) and ImageLength (257) of the
// first directory, classic TIFF or BigTIFF, either byte order.
std::optional<cv::Size> tiff_size(const std::vector<uint8_t>& b) {
  const bool little = starts_with(b, 0, "II"), big_tiff = b.size() >= 4 && b[2] + b[3] == 43;
  const auto read = [&](size_t at, int bytes) -> uint64_t {
    if (at + bytes > b.size()) return 0;
    return bytes == 8 ? (read_uint(b, little, at + (little ? 4 : 0), 4) << 32) | read_uint(b, little, at + (little ? 0 : 4), 4)
                      : read_uint(b, little, at, bytes);
  };
  const int offset_bytes = big_tiff ? 8 : 4, count_bytes = big_tiff ? 8 : 2, entry_bytes = big_tiff ? 20 : 12;
  const uint64_t directory = read(big_tiff ? 8 : 4, offset_bytes);
  if (directory == 0 || directory >= b.size()) return std::nullopt;
  const uint64_t entries = std::min<uint64_t>(read(directory, count_bytes), (b.size() - directory) / entry_bytes);
  int64_t width = -1, height = -1;
  for (uint64_t i = 0; i < entries; ++i) {
    const size_t entry = directory + count_bytes + i * entry_bytes;
    const uint64_t tag = read(entry, 2), type = read(entry + 2, 2), value_at = entry + 4 + offset_bytes;
    if (tag != 256 && tag != 257) continue;
    const uint64_t value = type == 3 ? read(value_at, 2) : type == 4 ? read(value_at, 4) : type == 16 ? read(value_at, 8) : 0;
    (tag == 256 ? width : height) = static_cast<int64_t>(std::min<uint64_t>(value, INT32_MAX));
  }
  if (width < 0 || height < 0) return std::nullopt;
  return cv::Size(static_cast<int>(width), static_cast<int>(height));
}

// Walks the markers to the end-of-image marker; what follows it (e.g. a motion photo's video) is
// not ours to judge. Bytes between markers (scan data, junk) are skipped as libjpeg skips them.
std::string jpeg_damage(const std::vector<uint8_t>& b) {
  const std::string truncated = "truncated JPEG (the file ends before its end-of-image marker: the bottom of the picture is missing)";
  size_t at = 2;
  for (;;) {
    while (at < b.size() && b[at] != 0xFF) ++at;
    while (at < b.size() && b[at] == 0xFF) ++at;
    if (at >= b.size()) return truncated;
    const uint8_t marker = b[at++];
    if (marker == 0xD9) return "";
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // stuffing, TEM, restarts
    if (at + 2 > b.size()) return truncated;
    at += big_endian(b, at, 2);  // the segment (for SOS: its header; the scan data follows)
  }
}

std::string png_damage(const std::vector<uint8_t>& b) {
  size_t at = 8;
  while (at + 12 <= b.size()) {
    const uint32_t length = big_endian(b, at, 4);
    if (length > b.size() - at - 12) break;
    const std::string type(b.begin() + static_cast<std::ptrdiff_t>(at + 4), b.begin() + static_cast<std::ptrdiff_t>(at + 8));
    const uLong crc = crc32(0L, b.data() + at + 4, static_cast<uInt>(length + 4));
    if (crc != big_endian(b, at + 8 + length, 4)) return "damaged PNG (chunk " + type + " fails its CRC check)";
    if (type == "IEND") return "";
    at += 12 + length;
  }
  return "truncated PNG (the file ends before its IEND chunk)";
}

}  // namespace

std::optional<cv::Size> image_size_from_header(const std::vector<uint8_t>& b) {
  if (is_png(b) && b.size() >= 24 && starts_with(b, 12, "IHDR"))
    return cv::Size(static_cast<int>(std::min<uint32_t>(big_endian(b, 16, 4), INT32_MAX)),
                    static_cast<int>(std::min<uint32_t>(big_endian(b, 20, 4), INT32_MAX)));
  if (is_jpeg(b)) return jpeg_size(b);
  if (is_bmp(b) && b.size() >= 26) {
    const auto height = static_cast<int32_t>(little_endian(b, 22, 4));  // negative: stored top-down
    return cv::Size(static_cast<int>(std::min<uint32_t>(little_endian(b, 18, 4), INT32_MAX)),
                    height == INT32_MIN ? INT32_MAX : std::abs(height));
  }
  if (starts_with(b, 0, "GIF8") && b.size() >= 10)
    return cv::Size(static_cast<int>(little_endian(b, 6, 2)), static_cast<int>(little_endian(b, 8, 2)));
  if (is_tiff(b)) return tiff_size(b);
  return webp_size(b);
}

bool has_readable_image_signature(const std::vector<uint8_t>& b) {
  return is_png(b) || is_jpeg(b) || is_bmp(b) || is_tiff(b) || is_webp(b);
}

std::string image_damage(const std::vector<uint8_t>& b) {
  if (is_png(b)) return png_damage(b);
  if (is_jpeg(b)) return jpeg_damage(b);
  // A still WebP's canvas is its one frame, which VP8/VP8L cap at 16384 a side: a larger canvas
  // is a doctored header (and OpenCV would allocate it before finding out).
  if (const auto size = webp_size(b); size && starts_with(b, 12, "VP8X") && std::max(size->width, size->height) > 16384)
    return "corrupt WebP header (canvas " + std::to_string(size->width) + "x" + std::to_string(size->height) +
           " is over WebP's 16384-pixel side)";
  return "";
}

}  // namespace nst
