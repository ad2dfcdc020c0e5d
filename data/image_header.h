// What an image file's own bytes say before a decoder runs: its size (so a 97 KB PNG that inflates
// to 10000x10000 is refused before 300 MB are allocated) and damage the decoders would paper over
// or print to stderr (a truncated JPEG decodes with a grey bottom; libpng prints CRC errors).
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nst {

// Width and height from the header of a PNG, JPEG, BMP, GIF, WebP or TIFF (also BigTIFF) file;
// nullopt for other formats or a header too short to say.
std::optional<cv::Size> image_size_from_header(const std::vector<uint8_t>& bytes);

// True when the bytes start like one of the formats nst reads (PNG, JPEG, BMP, WebP, TIFF): the
// decoders OpenCV has for everything else (PPM, HDR, Sun raster, ...) are never reached.
bool has_readable_image_signature(const std::vector<uint8_t>& bytes);

// "" when the file looks whole; else what is wrong: a JPEG without its end marker, a PNG that ends
// before IEND or whose chunk fails its CRC, a WebP whose canvas no frame can fill. Other formats: "".
std::string image_damage(const std::vector<uint8_t>& bytes);

}  // namespace nst
