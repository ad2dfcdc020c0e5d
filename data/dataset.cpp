#include "data/dataset.h"

#include <opencv2/imgproc.hpp>  // extractChannel

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "data/image_io.h"
#include "core/errors.h"
#include "core/file_checks.h"

namespace fs = std::filesystem;

namespace nst {

std::vector<std::string> list_images(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw path_error(dir, "no such directory");
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink |
                                                            fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && has_image_extension(it->path().string())) files.push_back(it->path().string());
  }
  if (ec) throw path_error(dir, "cannot list (" + ec.message() + ")");
  if (files.empty()) throw path_error(dir, "no images found (looked for jpg, jpeg, png, bmp, webp, tif)");
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> read_file_list(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw path_error(path, "cannot open file list");
  const fs::path base = fs::path(path).parent_path();
  std::vector<std::string> files;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    const fs::path file(line.substr(start));
    files.push_back(file.is_absolute() ? file.string() : (base / file).string());
  }
  if (files.empty()) throw path_error(path, "file list is empty");
  return files;
}

torch::Tensor resize_and_crop(const cv::Mat& bgr, int64_t size, int64_t offset) {
  if (size < 1) throw std::runtime_error("image size must be positive, got " + std::to_string(size));
  const int rows = bgr.rows, cols = bgr.cols;
  const double scale = static_cast<double>(size) / std::min(rows, cols);
  const int new_rows = rows <= cols ? static_cast<int>(size) : std::max<int>(size, std::lround(rows * scale));
  const int new_cols = cols < rows ? static_cast<int>(size) : std::max<int>(size, std::lround(cols * scale));
  const cv::Mat resized = resize_to(bgr, cv::Size(new_cols, new_rows));
  const int64_t slack = std::max(new_rows, new_cols) - size;
  const int64_t start = offset < 0 ? slack / 2 : std::min(offset, slack);
  const cv::Rect crop = new_rows > new_cols ? cv::Rect(0, static_cast<int>(start), static_cast<int>(size), static_cast<int>(size))
                                            : cv::Rect(static_cast<int>(start), 0, static_cast<int>(size), static_cast<int>(size));
  const cv::Mat square = resized(crop);
  // Channel planes written straight into the tensor with OpenCV, so decoding threads never enter
  // LibTorch's intra-op thread pool (the training step owns the cores).
  torch::Tensor out = torch::empty({3, size, size}, torch::kFloat32);
  for (int c = 0; c < 3; ++c) {
    cv::Mat plane(static_cast<int>(size), static_cast<int>(size), CV_32F, out[c].data_ptr<float>());
    cv::Mat channel;
    cv::extractChannel(square, channel, 2 - c);  // BGR -> RGB
    channel.convertTo(plane, CV_32F);
  }
  return out;
}

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  for (int round = 0; round < 2; ++round) {  // splitmix64 finalizer, twice for good measure
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
  }
  return z;
}

std::vector<int64_t> epoch_permutation(int64_t count, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  uint64_t state = mix_seed(seed, static_cast<uint64_t>(epoch) + 0x5EED);
  for (int64_t i = count - 1; i > 0; --i) {
    state = mix_seed(state, static_cast<uint64_t>(i));
    std::swap(order[i], order[state % static_cast<uint64_t>(i + 1)]);  // modulo bias is negligible here
  }
  return order;
}

ImageLoader::ImageLoader(std::vector<std::string> files, LoaderOptions options, int64_t start_position)
    : files_(std::move(files)), options_(options), start_(start_position) {
  if (files_.empty()) throw std::runtime_error("no training images");
  if (options_.slice_block() > 0 && (options_.slice_take() < 1 || options_.slice_offset() < 0 ||
                                   options_.slice_offset() + options_.slice_take() > options_.slice_block()))
    throw std::runtime_error("loader slice out of range");
  if (options_.queue_capacity() < 1) options_.queue_capacity(1);
  const int threads = std::max(1, options_.threads());
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { worker(); });
}

ImageLoader::~ImageLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  space_free_.notify_all();
  for (auto& thread : threads_) thread.join();
}

const std::vector<int64_t>& ImageLoader::permutation(int64_t epoch) {
  auto it = permutations_.find(epoch);
  if (it == permutations_.end()) {
    while (permutations_.size() > 2) permutations_.erase(permutations_.begin());  // only neighbours are in use
    std::vector<int64_t> order;
    if (options_.shuffle()) {
      order = epoch_permutation(static_cast<int64_t>(files_.size()), options_.seed(), epoch);
    } else {
      order.resize(files_.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    }
    it = permutations_.emplace(epoch, std::move(order)).first;
  }
  return it->second;
}

int64_t ImageLoader::stream_position(int64_t index) const {
  if (options_.slice_block() <= 0) return start_ + index;
  return start_ + index / options_.slice_take() * options_.slice_block() + options_.slice_offset() + index % options_.slice_take();
}

ImageLoader::Item ImageLoader::load(int64_t position) {
  const int64_t count = static_cast<int64_t>(files_.size());
  const int64_t epoch = position / count;
  int64_t index;
  {
    std::lock_guard<std::mutex> lock(perm_mutex_);
    index = permutation(epoch)[position % count];
  }
  Item item;
  item.path = files_[index];
  try {
    const cv::Mat bgr = read_image_bgr(item.path);
    int64_t offset = -1;
    if (options_.random_crop()) {
      const int64_t short_side = std::min(bgr.rows, bgr.cols);
      const int64_t long_side = std::llround(static_cast<double>(std::max(bgr.rows, bgr.cols)) * options_.image_size() / short_side);
      const int64_t slack = std::max<int64_t>(0, long_side - options_.image_size());
      offset = static_cast<int64_t>(mix_seed(options_.seed() ^ 0xC409ull, static_cast<uint64_t>(position)) %
                                    static_cast<uint64_t>(slack + 1));
    }
    item.image = resize_and_crop(bgr, options_.image_size(), offset);
  } catch (const cv::Exception& e) {
    item.error = item.path + ": cannot process image (" + e.err + ")";
  } catch (const std::exception& e) {
    item.error = e.what();
  }
  return item;
}

void ImageLoader::worker() {
  while (true) {
    int64_t index;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_free_.wait(lock, [&] { return stopping_ || next_to_claim_ < taken_ + options_.queue_capacity(); });
      if (stopping_) return;
      index = next_to_claim_++;
    }
    Item item = load(stream_position(index));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(index, std::move(item));
    }
    item_ready_.notify_all();
  }
}

ImageLoader::Item ImageLoader::take() {
  Item item;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    item_ready_.wait(lock, [&] { return ready_.count(taken_) > 0; });
    auto node = ready_.extract(taken_);
    item = std::move(node.mapped());
    ++taken_;
  }
  space_free_.notify_all();
  return item;
}

torch::Tensor ImageLoader::next() {
  while (true) {
    Item item = take();
    if (item.image.defined()) {
      failures_in_a_row_ = 0;
      return item.image;
    }
    if (skipped_paths_.emplace(item.path, item.error).second) new_skipped_.push_back({item.path, item.error});
    if (++failures_in_a_row_ >= static_cast<int64_t>(files_.size()))
      throw std::runtime_error("all " + std::to_string(files_.size()) + " training images failed to load (e.g. " +
                               item.error + ")");
  }
}

torch::Tensor ImageLoader::next_batch(int64_t batch) {
  std::vector<torch::Tensor> images;
  images.reserve(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) images.push_back(next());
  return torch::stack(images);
}

std::vector<torch::Tensor> ImageLoader::next_unskipped(int64_t count) {
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < count; ++i) images.push_back(take().image);
  return images;
}

std::vector<SkippedImage> ImageLoader::take_new_skipped() {
  std::vector<SkippedImage> out;
  out.swap(new_skipped_);
  return out;
}

ValidationSet load_validation_set(const std::vector<std::string>& files, int64_t image_size, int64_t max_count) {
  ValidationSet set;
  std::vector<torch::Tensor> images;
  for (const auto& file : files) {
    if (static_cast<int64_t>(images.size()) >= max_count) break;
    try {
      images.push_back(resize_and_crop(read_image_bgr(file), image_size));
      set.names.push_back(fs::path(file).stem().string());
    } catch (const std::exception& e) {
      set.skipped.push_back({file, e.what()});
    }
  }
  if (!images.empty()) set.images = torch::stack(images);
  return set;
}

}  // namespace nst
