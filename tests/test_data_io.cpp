// Image I/O, atomic writes and the safetensors container (data/).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "data/atomic_file.h"
#include "data/image_header.h"
#include "data/image_io.h"
#include "data/json_strict.h"
#include "data/progress.h"
#include "data/safetensors.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nst::test::error_of;
using nst::test::TempDir;

using nst::test::write_bytes;

TEST(ImageIo, PngRoundTripIsExactAndRgbOrdered) {
  TempDir dir;
  auto image = torch::randint(0, 256, {3, 7, 5}).to(torch::kFloat32);
  image[0].fill_(255);  // pure red channel: catches BGR/RGB swaps
  image[2].fill_(0);
  nst::write_image(dir / "a.png", image);
  auto back = nst::read_image(dir / "a.png");
  ASSERT_EQ(back.sizes(), image.sizes());
  EXPECT_TRUE(torch::equal(back, image));
  cv::Mat raw = cv::imread(dir / "a.png");
  EXPECT_EQ(raw.at<cv::Vec3b>(0, 0)[2], 255);  // OpenCV's BGR: red is the third channel
  EXPECT_EQ(raw.at<cv::Vec3b>(0, 0)[0], 0);
}

TEST(ImageIo, GrayscaleIsExpandedToThreeChannels) {
  TempDir dir;
  cv::Mat gray(4, 6, CV_8UC1, cv::Scalar(77));
  cv::imwrite(dir / "g.png", gray);
  auto image = nst::read_image(dir / "g.png");
  EXPECT_EQ(image.sizes(), (std::vector<int64_t>{3, 4, 6}));
  EXPECT_EQ(image.min().item<float>(), 77.f);
  EXPECT_EQ(image.max().item<float>(), 77.f);
}

TEST(ImageIo, BadFilesGiveOneLineErrorsNamingTheFile) {
  TempDir dir;
  write_bytes(dir / "empty.jpg", "");
  write_bytes(dir / "text.jpg", "this is not a jpeg");
  std::string jpeg;
  {
    std::vector<uchar> bytes;
    cv::imencode(".jpg", cv::Mat(64, 64, CV_8UC3, cv::Scalar(10, 20, 30)), bytes);
    jpeg.assign(bytes.begin(), bytes.begin() + 20);  // truncated inside the header
  }
  write_bytes(dir / "truncated.jpg", jpeg);
  fs::create_directories(dir / "folder.jpg");

  EXPECT_EQ(error_of([&] { nst::read_image(dir / "missing.jpg"); }), (dir / "missing.jpg") + ": no such file");
  EXPECT_EQ(error_of([&] { nst::read_image(dir / "empty.jpg"); }), (dir / "empty.jpg") + ": empty file");
  EXPECT_NE(error_of([&] { nst::read_image(dir / "text.jpg"); }).find("text.jpg: not a JPEG, PNG, BMP, WebP or TIFF image"), std::string::npos);
  EXPECT_NE(error_of([&] { nst::read_image(dir / "truncated.jpg"); }).find("truncated.jpg: "), std::string::npos);
  EXPECT_EQ(error_of([&] { nst::read_image(dir / "folder.jpg"); }), (dir / "folder.jpg") + ": is a directory, not a file");
  for (const auto& name : {"missing.jpg", "empty.jpg", "text.jpg", "truncated.jpg"})
    EXPECT_EQ(error_of([&] { nst::read_image(dir / name); }).find('\n'), std::string::npos) << name;
}

TEST(ImageIo, WriteErrorsNameThePathAndLeaveNoTemporaryFile) {
  TempDir dir;
  auto image = torch::zeros({3, 4, 4});
  EXPECT_NE(error_of([&] { nst::write_image(dir / "no/such/dir/out.png", image); }).find("no/such/dir/out.png"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nst::write_image(dir / "noextension", image); }).find("needs an image extension"),
            std::string::npos);
  nst::write_image(dir / "ok.jpg", image, 90);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.str())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);  // only ok.jpg, no leftover temporary
}

TEST(AtomicFile, FailedWriteKeepsThePreviousFile) {
  TempDir dir;
  nst::write_bytes_atomically(dir / "model.bin", "good");
  EXPECT_THROW(nst::write_atomically(dir / "model.bin",
                                     [](const std::string& tmp) {
                                       std::ofstream(tmp) << "half";
                                       throw std::runtime_error("crash in the middle");
                                     }),
               std::runtime_error);
  std::ifstream in(dir / "model.bin");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "good");
  EXPECT_FALSE(fs::exists(nst::temporary_path_for(dir / "model.bin")));
}

TEST(SafeTensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  TempDir dir;
  std::map<std::string, torch::Tensor> tensors = {
      {"f32", torch::randn({2, 3})},
      {"f16", torch::randn({4}).to(torch::kFloat16)},
      {"bf16", torch::randn({1, 2, 2}).to(torch::kBFloat16)},
      {"i64", torch::arange(5)},
      {"empty", torch::zeros({0, 3})},
  };
  nst::write_safetensors(dir / "t.safetensors", tensors, {{"format", "test"}, {"note", "ünïcode"}});
  auto back = nst::read_safetensors(dir / "t.safetensors");
  EXPECT_EQ(back.metadata.at("format"), "test");
  EXPECT_EQ(back.metadata.at("note"), "ünïcode");
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    EXPECT_EQ(back.tensors.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back.tensors.at(name), t)) << name;
  }
}

TEST(SafeTensors, PythonReaderAgrees) {
  NST_REQUIRE_OR_SKIP(nst::test::have_python_torch(), "python3-torch is not installed (bootstrap installs it)");
  TempDir dir;
  auto t = torch::randn({3, 5});
  nst::write_safetensors(dir / "t.safetensors", {{"x", t}}, {{"k", "v"}});
  const std::string script = "import sys; sys.path.insert(0, '" + nst::test::source_dir() +
                             "/scripts'); import safetensors_io as s; t, m = s.load(sys.argv[1]); "
                             "print(m['k'], ' '.join('%.6f' % v for v in t['x'].flatten().tolist()))";
  auto result = nst::test::run_command(nst::test::python() + " -c \"" + script + "\" " + (dir / "t.safetensors"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::istringstream words(result.output);
  std::string key;
  words >> key;
  EXPECT_EQ(key, "v");
  auto flat = t.flatten();
  for (int64_t i = 0; i < flat.numel(); ++i) {
    double value;
    words >> value;
    EXPECT_NEAR(value, flat[i].item<double>(), 1e-5);
  }
}

TEST(SafeTensors, CorruptContainersAreRejectedWithReasons) {
  TempDir dir;
  nst::write_safetensors(dir / "good.safetensors", {{"w", torch::ones({16})}});
  std::ifstream in(dir / "good.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  write_bytes(dir / "short.safetensors", bytes.substr(0, 5));
  EXPECT_NE(error_of([&] { nst::read_safetensors(dir / "short.safetensors"); }).find("not a safetensors file"),
            std::string::npos);
  write_bytes(dir / "truncated.safetensors", bytes.substr(0, bytes.size() - 10));
  EXPECT_NE(error_of([&] { nst::read_safetensors(dir / "truncated.safetensors"); }).find("outside the file"),
            std::string::npos);
  std::string huge_header = bytes;
  huge_header[6] = '\x7f';
  write_bytes(dir / "huge.safetensors", huge_header);
  EXPECT_NE(error_of([&] { nst::read_safetensors(dir / "huge.safetensors"); }).find("header length"), std::string::npos);
  std::string bad_json = bytes;
  bad_json[8] = '[';
  write_bytes(dir / "json.safetensors", bad_json);
  EXPECT_NE(error_of([&] { nst::read_safetensors(dir / "json.safetensors"); }).find("header"), std::string::npos);
  EXPECT_NE(error_of([&] { nst::read_safetensors(dir / "absent.safetensors"); }).find("absent.safetensors: no such file"),
            std::string::npos);
}

TEST(Progress, DurationsAreFormattedAsHoursMinutesSeconds) {
  EXPECT_EQ(nst::Progress::format_duration(0), "0:00:00");
  EXPECT_EQ(nst::Progress::format_duration(3725.4), "1:02:05");
  EXPECT_EQ(nst::Progress::format_duration(-1), "--:--");
}

// The sizes read from headers agree with what OpenCV decodes (the reference), for every format we
// sniff; whole files are undamaged, cut ones are named as truncated.
TEST(ImageHeader, SizesAgreeWithOpenCvAndCutFilesAreTruncated) {
  cv::Mat image(37, 53, CV_8UC3, cv::Scalar(10, 200, 90));
  cv::circle(image, {20, 15}, 9, cv::Scalar(250, 0, 30), -1);
  for (const std::string ext : {".png", ".jpg", ".bmp", ".webp", ".tiff"}) {
    std::vector<uchar> bytes;
    ASSERT_TRUE(cv::imencode(ext, image, bytes)) << ext;
    EXPECT_TRUE(nst::has_readable_image_signature(bytes)) << ext;
    const cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
    const auto size = nst::image_size_from_header(bytes);
    ASSERT_TRUE(size.has_value()) << ext;
    EXPECT_EQ(*size, decoded.size()) << ext;
    EXPECT_EQ(nst::image_damage(bytes), "") << ext;
    if (ext == ".png" || ext == ".jpg") {
      const std::vector<uchar> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() * 2 / 3));
      EXPECT_NE(nst::image_damage(cut).find("truncated"), std::string::npos) << ext;
    }
  }
  std::vector<uchar> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", image, jpeg));
  jpeg.insert(jpeg.end(), 10000, 0x55);  // data after the end marker (e.g. a motion photo's video) is not damage
  EXPECT_EQ(nst::image_damage(jpeg), "");
  EXPECT_FALSE(nst::image_size_from_header({'x', 'y', 'z'}).has_value());
}

// What OpenCV cannot write: a big-endian TIFF and a BigTIFF (sizes as SHORT, LONG and LONG8), a
// doctored WebP canvas, and formats nst does not read at all.
TEST(ImageHeader, OtherTiffLayoutsDoctoredWebPAndForeignFormats) {
  const std::vector<uint8_t> big_endian_tiff = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2,
                                                1, 0, 0, 3, 0, 0, 0, 1, 1, 44, 0, 0,   // 256 SHORT 300
                                                1, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0, 200};  // 257 LONG 200
  EXPECT_EQ(nst::image_size_from_header(big_endian_tiff), cv::Size(300, 200));
  std::vector<uint8_t> big_tiff = {'I', 'I', 43, 0, 8, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  for (const std::vector<uint8_t> entry : {std::vector<uint8_t>{0, 1, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x1F, 0, 0, 0, 0, 0, 0},
                                           std::vector<uint8_t>{1, 1, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}})
    big_tiff.insert(big_tiff.end(), entry.begin(), entry.end());
  EXPECT_EQ(nst::image_size_from_header(big_tiff), cv::Size(8000, 7));
  big_tiff.resize(30);  // the directory cut short: no size, never a read past the end
  EXPECT_FALSE(nst::image_size_from_header(big_tiff).has_value());

  // The extended layout's header (OpenCV writes the simple one): canvas 11x9, then 11x458761.
  std::vector<uint8_t> webp = {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X',
                               10, 0, 0, 0, 0x10, 0, 0, 0, 10, 0, 0, 8, 0, 0};
  EXPECT_EQ(nst::image_size_from_header(webp), cv::Size(11, 9));
  EXPECT_EQ(nst::image_damage(webp), "");
  webp[29] = 7;  // canvas height - 1 = 0x070008
  EXPECT_EQ(nst::image_damage(webp), "corrupt WebP header (canvas 11x458761 is over WebP's 16384-pixel side)");

  const std::string ppm = "P6\n3 2\n255\n012345678901234567";
  EXPECT_FALSE(nst::has_readable_image_signature(std::vector<uint8_t>(ppm.begin(), ppm.end())));
}

TEST(JsonStrict, DuplicateKeysAtAnyDepthAreErrors) {
  EXPECT_EQ(nst::parse_json_strict(R"({"a":1,"b":{"a":2}})")["b"]["a"], 2);
  EXPECT_EQ(error_of([] { nst::parse_json_strict(R"({"a":1,"a":2})"); }), "duplicate key 'a'");
  EXPECT_EQ(error_of([] { nst::parse_json_strict(R"({"x":[{"k":1,"k":1}]})"); }), "duplicate key 'k'");
  EXPECT_NE(error_of([] { nst::parse_json_strict("{"); }), "(no error)");
}

// Temporaries of writers that are gone are removed; those of a live writer (this process) stay.
TEST(AtomicFile, StaleTemporariesOfDeadWritersAreRemoved) {
  TempDir dir;
  write_bytes(dir / ".ckpt_00000004.tmp-999999999.pt", "dead writer");
  write_bytes(dir / (".model.tmp-" + std::to_string(::getpid()) + ".safetensors"), "live writer");
  write_bytes(dir / "ckpt_00000004.pt", "a real file");
  write_bytes(dir / ".hidden", "not ours");
  EXPECT_EQ(nst::remove_stale_temporaries(dir.str()), 1);
  EXPECT_FALSE(fs::exists(dir / ".ckpt_00000004.tmp-999999999.pt"));
  EXPECT_TRUE(fs::exists(dir / (".model.tmp-" + std::to_string(::getpid()) + ".safetensors")));
  EXPECT_TRUE(fs::exists(dir / "ckpt_00000004.pt"));
  EXPECT_TRUE(fs::exists(dir / ".hidden"));
}
