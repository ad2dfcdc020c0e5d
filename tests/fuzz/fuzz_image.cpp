// libFuzzer target: image files as the tools decode them (data/image_io.cpp): read_image_file
// (nst-infer: 8/16-bit, alpha, grey) and read_image_bgr + mat_to_tensor (training photos, styles).
// OpenCV's codecs are Debian's, not instrumented: coverage guides through our code and the decoders'
// entry points only, and ASan sees their heap use through malloc/free, not every access.
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <vector>

#include "data/image_header.h"
#include "data/image_io.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// Tiny images in every format and layout the readers distinguish, written by the project's writer.
void write_seeds(const std::string& dir) {
  cv::Mat bgr(5, 7, CV_8UC3), alpha(5, 7, CV_8UC1), bgr16(5, 7, CV_16UC3), grey(5, 7, CV_8UC1);
  cv::randu(bgr, 0, 256);
  cv::randu(alpha, 0, 256);
  cv::randu(bgr16, 0, 65536);
  cv::randu(grey, 0, 256);
  for (const char* ext : {"jpg", "png", "bmp", "webp", "tif"}) nst::write_image_file(dir + "/rgb." + ext, bgr, {});
  for (const char* ext : {"png", "webp", "tif"}) nst::write_image_file(dir + "/alpha." + ext, bgr, alpha);
  for (const char* ext : {"png", "tif"}) nst::write_image_file(dir + "/rgb16." + ext, bgr16, {});
  cv::imwrite(dir + "/grey.png", grey);  // greyscale files come from elsewhere: our writer keeps 3 channels
  cv::imwrite(dir + "/grey.jpg", grey);
}

}  // namespace

NST_FUZZ_INITIALIZE(write_seeds)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The readers let through any size that fits half the free memory (tests/test_hostile_inputs.cpp
  // covers the limits); a few bytes claiming 500 megapixels would only measure malloc against
  // libFuzzer's 2 GiB RSS limit. Claims over 16 megapixels are left out here, unless the readers
  // refuse the header as damaged before allocating (regression_webp_canvas_oom).
  const std::vector<uint8_t> bytes(data, data + size);
  const auto claimed = nst::image_size_from_header(bytes);
  if (claimed && int64_t{claimed->width} * claimed->height > (int64_t{1} << 24) && nst::image_damage(bytes).empty()) return 0;
  const std::string path = nst::fuzz::write_input("image", data, size);
  nst::fuzz::run_may_refuse([&] { nst::mat_to_tensor(nst::read_image_file(path).bgr); });
  nst::fuzz::run_may_refuse([&] { nst::mat_to_tensor(nst::read_image_bgr(path)); });
  return 0;
}
