// The tiny training problem the nst-train tests share: synthetic photos (one corrupt), a striped
// style, tiny.yaml (a narrow net, a random-weight SqueezeNet, 12 iterations), and readers for a
// run directory.
#pragma once
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/safetensors.h"
#include "test_support.h"

namespace nst::test {

// Smooth synthetic "photos" (gradients and discs) and a striped "painting".
// The nst-train command line. OMP_WAIT_POLICY=PASSIVE: spinning OpenMP threads crawl when ctest runs
// suites in parallel. `timeout_seconds` > 0 wraps it in timeout(1) (-k 5: killed if it ignores the
// TERM); without it the command's PID is nst-train's own, for tests that signal it.
inline std::string train_command(const std::string& args, int timeout_seconds = 0) {
  const std::string timeout = timeout_seconds > 0 ? "timeout -k 5 " + std::to_string(timeout_seconds) + " " : "";
  return "OMP_WAIT_POLICY=PASSIVE " + timeout + bin_dir() + "/nst-train " + args;
}

inline void make_data(const TempDir& dir) {
  std::filesystem::create_directories(dir / "photos/sub");
  cv::RNG rng(5);
  for (int i = 0; i < 6; ++i) {
    cv::Mat image(40 + 4 * i, 56 - 3 * i, CV_8UC3);
    for (int r = 0; r < image.rows; ++r)
      for (int c = 0; c < image.cols; ++c)
        image.at<cv::Vec3b>(r, c) = cv::Vec3b(static_cast<uchar>(4 * r + 20 * i), static_cast<uchar>(3 * c), static_cast<uchar>(128 + 20 * i));
    cv::circle(image, {rng.uniform(5, 30), rng.uniform(5, 30)}, rng.uniform(4, 12), cv::Scalar(rng.uniform(0, 255), 40, 200), -1);
    ASSERT_TRUE(cv::imwrite(dir / ("photos/" + std::string(i % 2 ? "sub/" : "") + "p" + std::to_string(i) + ".png"), image));
  }
  std::ofstream(dir / "photos/corrupt.jpg") << "\xFF\xD8\xFF\xE0 truncated";
  cv::Mat style(48, 48, CV_8UC3);
  for (int r = 0; r < 48; ++r)
    for (int c = 0; c < 48; ++c)
      style.at<cv::Vec3b>(r, c) = ((r + c) / 4) % 2 ? cv::Vec3b(30, 200, 250) : cv::Vec3b(120, 20, 10);
  ASSERT_TRUE(cv::imwrite(dir / "style.png", style));
  std::ofstream(dir / "tiny.yaml") << "data:\n  train_dir: " << (dir / "photos") << "\n  image_size: 32\n  val_count: 2\n"
                                   << "style:\n  images: [" << (dir / "style.png") << "]\n  size: 48\n"
                                   << "model:\n  width: 8\n  res_blocks: 1\n"
                                   << "loss_network:\n  name: squeezenet1_1\n  weights: random\n"
                                   << "loss:\n  content:\n    weight: 1.0\n    layers: {fire2: 1.0}\n"
                                   << "  style:\n    weight: 1.0e4\n    layers: {relu1: 1.0, fire2: 1.0, fire3: 1.0}\n"
                                   << "  tv:\n    weight: 10.0\n"
                                   << "train:\n  iterations: 12\n  batch_size: 2\n  lr: 0.01\n  checkpoint_every: 4\n"
                                   << "  keep_checkpoints: 2\n  validate_every: 6\n  log_every: 1\n  threads: 1\n";
}

// Complete lines only (a running trainer may be writing the last one).
inline std::vector<nlohmann::json> read_log(const std::string& run_dir) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(run_dir + "/log.jsonl");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

inline std::vector<nlohmann::json> training_lines(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  for (auto& line : read_log(run_dir))
    if (line.contains("total") && !line.contains("phase")) out.push_back(line);
  return out;
}

inline void expect_same_weights(const std::string& a, const std::string& b) {
  const auto x = nst::read_safetensors(a), y = nst::read_safetensors(b);
  ASSERT_EQ(x.tensors.size(), y.tensors.size());
  for (const auto& [name, tensor] : x.tensors) {
    ASSERT_TRUE(y.tensors.count(name)) << name;
    EXPECT_TRUE(torch::equal(tensor, y.tensors.at(name))) << name << " differs: max |diff| "
                                                          << (tensor - y.tensors.at(name)).abs().max().item<double>();
  }
}

}  // namespace nst::test
