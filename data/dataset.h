// Training and validation photos: listing a COCO-like folder (recursive) or a file list, resizing the
// short side and cropping to a square, and a background loader that decodes ahead in threads with a
// bounded queue. The stream of images depends only on (seed, position), never on thread timing:
// epoch e visits the files in a permutation derived from (seed, e), and the crop of the image at
// stream position p is derived from (seed, p). Corrupt files are skipped (and reported), fatal only
// when every file fails.
#pragma once
#include <opencv2/core.hpp>
#include <torch/arg.h>
#include <torch/torch.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace nst {

// Every image file (has_image_extension) under `dir`, recursively, sorted. Throws for a missing
// directory or one without images.
std::vector<std::string> list_images(const std::string& dir);

// One path per line (blank lines and lines starting with '#' ignored); relative paths are relative
// to the list file's directory. Throws for a missing or empty list.
std::vector<std::string> read_file_list(const std::string& path);

// Resizes so the short side equals `size` (INTER_AREA when shrinking), then crops size x size at
// `offset` along the long side (clamped; a negative offset means the centre). Returns float
// [3,size,size] RGB 0..255.
torch::Tensor resize_and_crop(const cv::Mat& bgr, int64_t size, int64_t offset = -1);

// Portable deterministic randomness (std:: distributions differ between standard libraries).
uint64_t mix_seed(uint64_t a, uint64_t b);                                  // splitmix64-based hash
std::vector<int64_t> epoch_permutation(int64_t count, uint64_t seed, int64_t epoch);  // Fisher-Yates

struct LoaderOptions {
  TORCH_ARG(int64_t, image_size) = 256;
  TORCH_ARG(bool, random_crop) = true;  // training: random crop along the long side; false: centre crop
  TORCH_ARG(bool, shuffle) = true;      // per-epoch permutation; false: file order
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(int, threads) = 2;          // decoding threads
  TORCH_ARG(int, queue_capacity) = 16;  // images decoded ahead at most
};

struct SkippedImage {
  std::string path, reason;
};

// An endless stream over the files (epoch after epoch). next() returns images in stream order,
// skipping files that fail to decode; position() is the stream position of the next file to
// consider (save it in checkpoints and pass it back to resume exactly).
class ImageLoader {
 public:
  ImageLoader(std::vector<std::string> files, LoaderOptions options, int64_t start_position = 0);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  torch::Tensor next();                      // [3,S,S]; throws when every file failed to decode
  torch::Tensor next_batch(int64_t batch);   // [B,3,S,S]
  int64_t position() const { return position_; }
  int64_t epoch() const { return position_ / static_cast<int64_t>(files_.size()); }
  size_t size() const { return files_.size(); }
  // Files that failed since the last call (each file reported once per loader).
  std::vector<SkippedImage> take_new_skipped();
  size_t skipped_count() const { return skipped_paths_.size(); }

 private:
  struct Item {
    torch::Tensor image;  // undefined when decoding failed
    std::string path, error;
  };
  void worker();
  Item load(int64_t position);
  const std::vector<int64_t>& permutation(int64_t epoch);  // callers hold perm_mutex_

  std::vector<std::string> files_;
  LoaderOptions options_;
  int64_t position_;               // next position the consumer takes
  int64_t next_to_claim_;          // next position a worker decodes
  std::map<int64_t, Item> ready_;  // decoded ahead, by position
  std::mutex mutex_, perm_mutex_;
  std::condition_variable item_ready_, space_free_;
  bool stopping_ = false;
  std::map<int64_t, std::vector<int64_t>> permutations_;
  std::vector<std::thread> threads_;
  std::map<std::string, std::string> skipped_paths_;
  std::vector<SkippedImage> new_skipped_;
  int64_t failures_in_a_row_ = 0;
};

// Centre-cropped validation images, in file order, with their file stems (for preview names).
struct ValidationSet {
  torch::Tensor images;  // [N,3,S,S]
  std::vector<std::string> names;
  std::vector<SkippedImage> skipped;
};
ValidationSet load_validation_set(const std::vector<std::string>& files, int64_t image_size, int64_t max_count);

}  // namespace nst
