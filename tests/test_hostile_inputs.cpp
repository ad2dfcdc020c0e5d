// Hostile inputs to the tools, by class (issue 9): each must end in one line naming the file or
// key and exit 1, within seconds, leaving no partial output, no temporary file, and the input as it
// was. Training-run cases (checkpoints, run directories) are in test_hostile_runs.cpp.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "data/safetensors.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nst::test::read_bytes;
using nst::test::run_command;
using nst::test::TempDir;
using nst::test::write_bytes;

namespace {

std::string tool(const std::string& name) { return "OMP_WAIT_POLICY=PASSIVE timeout 60 " + nst::test::bin_dir() + "/" + name + " "; }

size_t lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// No temporary file (".NAME.tmp-PID.EXT") or write probe anywhere under `dir`.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp-") != std::string::npos || name.find(".nst-write-test-") != std::string::npos) found.push_back(name);
  }
  return found;
}

// Runs `command` and checks the common contract: exit 1, one line "TOOL: error: ...MESSAGE...".
void expect_one_line_error(const std::string& command, const std::string& message) {
  const auto result = run_command(command);
  EXPECT_EQ(result.exit_code, 1) << command << "\n" << result.output;
  EXPECT_EQ(lines(result.output), 1u) << command << "\n" << result.output;
  EXPECT_NE(result.output.find(": error: "), std::string::npos) << command << "\n" << result.output;
  EXPECT_NE(result.output.find(message), std::string::npos) << command << "\nexpected: " << message << "\n" << result.output;
  EXPECT_LT(result.output.size(), 400u) << result.output;
}

class HostileInputs : public ::testing::Test {
 protected:
  void SetUp() override {
    auto net = nst::test::small_net();
    nst::save_model(dir / "model.safetensors", net, {{"style", "test"}});
    model = dir / "model.safetensors";
    cv::Mat photo(48, 64, CV_8UC3, cv::Scalar(40, 120, 200));
    cv::circle(photo, {30, 20}, 12, cv::Scalar(250, 30, 90), -1);
    ASSERT_TRUE(cv::imwrite(dir / "photo.png", photo));
    ASSERT_TRUE(cv::imwrite(dir / "photo.jpg", photo));
    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
    fs::create_directories(dir / "folder");
    fs::create_directories(dir / "out");
  }
  // fp32: on an AVX-512 machine the first `--precision auto` run prints its choice, a second line.
  std::string infer(const std::string& args) const { return tool("nst-infer") + "--precision fp32 --model " + model + " " + args; }
  // nst-infer on photo.png with a copy of the model whose architecture metadata is `architecture`.
  std::string infer_with_architecture(const std::string& name, const std::string& architecture) const {
    auto file = nst::read_safetensors(model);
    file.metadata["architecture"] = architecture;
    nst::write_safetensors(dir / name, file.tensors, file.metadata);
    return tool("nst-infer") + "--precision fp32 --model " + (dir / name) + " --input " + (dir / "photo.png") + " --output " + (dir / "out/x.png");
  }

  TempDir dir;
  std::string model;
};

// Class 2 and 7: FIFOs, directories and absurd numbers are refused at once with the same message.
TEST_F(HostileInputs, NonRegularFilesAndAbsurdNumbersAreRefusedAtOnce) {
  expect_one_line_error(tool("nst-infer") + "--model " + (dir / "fifo") + " --input " + (dir / "photo.png") + " --output " +
                            (dir / "out/a.png"),
                        "fifo: not a regular file");
  expect_one_line_error(infer("--input " + (dir / "fifo") + " --output " + (dir / "out/b.png")), "fifo: not a regular file");
  const std::string directory_model = tool("nst-infer") + "--model " + (dir / "folder") + " --input " + (dir / "photo.png") +
                                      " --output " + (dir / "out/c.png");
  expect_one_line_error(directory_model, "folder: is a directory, not a file");
  EXPECT_EQ(run_command(directory_model).output, run_command(directory_model).output);  // the same every run
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + (dir / "out/d.png") + " --threads 100000"),
                        "--threads");
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + (dir / "out/e.png") + " --strength 1e308"),
                        "--strength");
  expect_one_line_error(tool("nst-train") + "--config " + (dir / "fifo"), "fifo: not a regular file");
  expect_one_line_error(tool("nst-export") + "--model " + (dir / "fifo") + " --onnx " + (dir / "out/x.onnx"),
                        "fifo: not a regular file");
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

// Class 3: metadata that would build a huge net, and headers that promise huge images, are refused
// from the file's own bytes, before anything of that size is allocated.
TEST_F(HostileInputs, HugeClaimsAreRefusedBeforeAllocating) {
  expect_one_line_error(infer_with_architecture("huge.safetensors", R"({"width":1024,"res_blocks":64})"),
                        "huge.safetensors: 504 tensors missing");
  // A PNG header claiming 40000 x 30000 pixels (1.2 gigapixels) over a few bytes of data.
  std::string png = read_bytes(dir / "photo.png");
  auto put32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  };
  put32(16, 40000);
  put32(20, 30000);
  const uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(png.data() + 12), 17);
  put32(29, static_cast<uint32_t>(crc));
  write_bytes(dir / "bomb.png", png);
  expect_one_line_error(infer("--input " + (dir / "bomb.png") + " --output " + (dir / "out/b.png")),
                        "bomb.png: image is 40000x30000, over the decoder's 1-gigapixel limit");
  // The fuzzer's finding: 85 bytes of WebP whose canvas (1200x458753) OpenCV would allocate, 2.2 GB.
  fs::copy_file(nst::test::source_dir() + "/tests/fuzz/corpus/image/regression_webp_canvas_oom", dir / "canvas.webp");
  expect_one_line_error(infer("--input " + (dir / "canvas.webp") + " --output " + (dir / "out/c.png")),
                        "canvas.webp: corrupt WebP header (canvas 1200x458753 is over WebP's 16384-pixel side)");
  // Formats nst does not read never reach OpenCV's decoders: a PPM header can claim any size.
  write_bytes(dir / "ppm.png", "P6\n30000 30000\n255\n" + std::string(64, 'x'));
  expect_one_line_error(infer("--input " + (dir / "ppm.png") + " --output " + (dir / "out/p.png")),
                        "ppm.png: not a JPEG, PNG, BMP, WebP or TIFF image");
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

// Class 5: no mode overwrites its own input (also through another spelling of the path or a hard
// link), and an output that cannot be written is found before the work.
TEST_F(HostileInputs, OutputsNeverDestroyInputsAndUnwritableOutputsFailFirst) {
  const std::string before = read_bytes(dir / "photo.png");
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + (dir / "photo.png")), "is the input");
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + dir.str() + "/./folder/../photo.png"),
                        "is the input");
  fs::create_hard_link(dir / "photo.png", dir / "link.png");
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + (dir / "link.png")), "is the input");
  expect_one_line_error(tool("nst-optimize") + "--content " + (dir / "photo.png") + " --style " + (dir / "photo.jpg") +
                            " --output " + (dir / "photo.png") + " loss_network.weights=random",
                        "is the input");
  EXPECT_EQ(read_bytes(dir / "photo.png"), before);
  write_bytes(dir / "plain", "a file, not a folder");
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + (dir / "plain/out.png")), "plain");
  expect_one_line_error(infer("--input " + (dir / "photo.png") + " --output " + (dir / "out/a.jpg.mp4")),
                        "the output of an image must be an image file");
  EXPECT_TRUE(fs::is_empty(dir / "out"));
  EXPECT_TRUE(temporaries(dir.str()).empty());
}

// Class 6: damaged data is never silently accepted.
TEST_F(HostileInputs, DamagedImagesAndModelsAreNamed) {
  const std::string jpeg = read_bytes(dir / "photo.jpg");
  write_bytes(dir / "half.jpg", jpeg.substr(0, jpeg.size() / 2));
  expect_one_line_error(infer("--input " + (dir / "half.jpg") + " --output " + (dir / "out/a.png")), "half.jpg: truncated JPEG");
  std::string png = read_bytes(dir / "photo.png");
  png[png.size() / 2] ^= 0x10;  // inside IDAT: libpng would print a CRC error before our line
  write_bytes(dir / "flipped.png", png);
  expect_one_line_error(infer("--input " + (dir / "flipped.png") + " --output " + (dir / "out/b.png")),
                        "flipped.png: damaged PNG (chunk IDAT fails its CRC check)");
  // Architecture metadata: 16.5 is not an integer; a key given twice is not a choice to guess.
  expect_one_line_error(infer_with_architecture("fraction.safetensors", R"({"width":4.5,"res_blocks":1})"),
                        "'width' must be an integer, got 4.5");
  expect_one_line_error(infer_with_architecture("twice.safetensors", R"({"width":4,"res_blocks":1,"width":8})"),
                        "duplicate key 'width'");
  // The same tensors claimed by a wider net: every shape is compared before the net is built.
  expect_one_line_error(infer_with_architecture("wide.safetensors", R"({"width":1024,"res_blocks":1})"),
                        "wide.safetensors: tensor 'conv1.conv2d.bias' has shape [4], expected [1024]");
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

// Class 6: a video cut short warns and says how much it wrote; a video is not written into a JPEG.
TEST_F(HostileInputs, TruncatedVideosWarnAndVideosNeedVideoOutputs) {
  {
    cv::VideoWriter writer(dir / "clip.avi", cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
    ASSERT_TRUE(writer.isOpened());
    cv::RNG rng(3);
    for (int i = 0; i < 30; ++i) {  // noise: frames larger than the container's headers
      cv::Mat frame(48, 64, CV_8UC3);
      rng.fill(frame, cv::RNG::UNIFORM, 0, 255);
      writer.write(frame);
    }
  }
  expect_one_line_error(infer("--input " + (dir / "clip.avi") + " --output " + (dir / "out/clip.jpg")),
                        "the output of a video must be a video file");
  const std::string video = read_bytes(dir / "clip.avi");
  write_bytes(dir / "cut.avi", video.substr(0, video.size() / 2));
  const auto result = run_command(infer("--input " + (dir / "cut.avi") + " --output " + (dir / "out/cut.avi")));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("warning: " + (dir / "cut.avi") + ": ended after "), std::string::npos) << result.output;
  EXPECT_NE(result.output.find(" of 30 frames (truncated or damaged?)"), std::string::npos) << result.output;
  for (const char* noise : {"[mjpeg", "Unexpected element", "GStreamer", "[ WARN"})  // decoders' own lines
    EXPECT_EQ(result.output.find(noise), std::string::npos) << result.output;
}

// Class 7: a folder item that fails is reported once, as it happens; the summary counts it.
TEST_F(HostileInputs, AFailingFolderItemIsReportedOnce) {
  fs::copy_file(dir / "photo.png", dir / "folder/good.png");
  write_bytes(dir / "folder/bad.png", "\x89PNG\r\n\x1a\nnot really");
  const auto result = run_command(infer("--input " + (dir / "folder") + " --output " + (dir / "out/folder")));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  size_t mentions = 0;
  for (size_t at = result.output.find("bad.png"); at != std::string::npos; at = result.output.find("bad.png", at + 1)) ++mentions;
  EXPECT_EQ(mentions, 1u) << result.output;
  EXPECT_NE(result.output.find("1 images written, 1 failed"), std::string::npos) << result.output;
  EXPECT_TRUE(fs::exists(dir / "out/folder/good.png"));
  EXPECT_FALSE(fs::exists(dir / "out/folder/bad.png"));
}

}  // namespace
