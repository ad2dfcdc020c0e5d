// What other people get: `cmake --install` gives a tree whose CMake package builds the examples
// (find_package(nst) + nst::stylizer, and OpenCV DNN on an exported model), and the Debian package
// built by scripts/build_deb.sh unpacks into a root whose nst-infer runs. Both outputs must agree
// with nst-infer's own.
#include <opencv2/imgcodecs.hpp>

#include <filesystem>

#include "data/image_io.h"
#include "export_support.h"
#include "nets/model_file.h"
#include "test_support.h"

namespace nst {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

std::string build_dir() { return fs::path(test::bin_dir()).parent_path().string(); }

// A small model and a content image with an odd size (exercises padding).
void write_fixtures(const TempDir& dir) {
  TransformerNetOptions options;
  options.width(8);
  options.res_blocks(1);
  auto net = test::random_net(options);
  save_model(dir / "style.safetensors", net, {{"style", "test"}});
  write_image(dir / "photo.png", test::test_image(45, 62));
}

// Largest per-pixel difference between two 8-bit images of the same size, in grey levels.
double image_difference(const std::string& a, const std::string& b) {
  const cv::Mat x = cv::imread(a), y = cv::imread(b);
  if (x.empty() || y.empty() || x.size() != y.size()) return 1e9;
  double max = 0;
  cv::Mat diff;
  cv::absdiff(x, y, diff);
  cv::minMaxLoc(diff.reshape(1), nullptr, &max);
  return max;
}

TEST(Package, InstallTreeBuildsTheExamplesAgainstFindPackageNst) {
  TempDir dir;
  write_fixtures(dir);
  const std::string root = dir / "root";
  auto installed = test::run_command("cmake --install " + build_dir() + " --prefix " + root);
  ASSERT_EQ(installed.exit_code, 0) << installed.output;
  for (const char* file : {"bin/nst-infer", "bin/nst-export", "bin/nst-train", "include/nst/nst.h",
                           "include/nst/infer/stylizer.h", "lib/cmake/nst/nstConfig.cmake",
                           "share/nst/configs/cpu_overnight.yaml", "share/doc/nst/deploy.md",
                           "share/doc/nst/examples/stylize.cpp"})
    EXPECT_TRUE(fs::exists(root + "/" + file)) << file << " not installed";

  const std::string examples = dir / "examples";
  auto configured = test::run_command("cmake -S " + root + "/share/doc/nst/examples -B " + examples +
                                      " -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=" + root);
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  auto built = test::run_command("cmake --build " + examples + " -j 2");
  ASSERT_EQ(built.exit_code, 0) << built.output;

  // nst-infer's output is the reference; the example links the same code, so at most a rounding step.
  auto reference = test::run_command(test::bin_dir() + "/nst-infer --threads 1 --precision fp32 --model " + (dir / "style.safetensors") +
                                     " --input " + (dir / "photo.png") + " --output " + (dir / "nst.png"));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  auto ran = test::run_command(examples + "/stylize " + (dir / "style.safetensors") + " " + (dir / "photo.png") + " " +
                               (dir / "example.png"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_LE(image_difference(dir / "nst.png", dir / "example.png"), 1.0);

  // OpenCV DNN alone on the exported model, padded by the example as nst-infer pads.
  auto exported = test::run_command(root + "/bin/nst-export --model " + (dir / "style.safetensors") + " --onnx " +
                                    (dir / "style.onnx"));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  auto onnx = test::run_command(examples + "/stylize_onnx " + (dir / "style.onnx") + " " + (dir / "photo.png") + " " +
                                (dir / "onnx.png"));
  ASSERT_EQ(onnx.exit_code, 0) << onnx.output;
  EXPECT_LE(image_difference(dir / "nst.png", dir / "onnx.png"), 1.0);
}

TEST(Package, DebianPackageHasDependenciesAndRunsFromAnUnpackedRoot) {
  NST_REQUIRE_OR_SKIP(test::run_command("command -v dpkg-shlibdeps").exit_code == 0,
                      "dpkg-shlibdeps not installed (dpkg-dev; scripts/bootstrap.sh installs it)");
  TempDir dir;
  write_fixtures(dir);
  auto built = test::run_command(test::source_dir() + "/scripts/build_deb.sh --no-build " + build_dir() + " " +
                                 (dir / "out") + " 2>/dev/null");
  ASSERT_EQ(built.exit_code, 0) << built.output;
  const std::string deb = built.output.substr(0, built.output.find('\n'));
  ASSERT_TRUE(fs::exists(deb)) << built.output;

  const auto depends = test::run_command("dpkg-deb -f " + deb + " Depends").output;
  for (const char* package : {"libtorch1.13", "libopencv-core406", "libonnx1", "libprotobuf32", "libyaml-cpp0.7"})
    EXPECT_NE(depends.find(package), std::string::npos) << package << " missing from Depends: " << depends;

  const std::string root = dir / "root";
  ASSERT_EQ(test::run_command("dpkg-deb -x " + deb + " " + root).exit_code, 0);
  for (const char* file : {"usr/lib/cmake/nst/nstConfig.cmake", "usr/share/nst/configs/cpu_overnight.yaml"})
    EXPECT_TRUE(fs::exists(root + "/" + file)) << file << " not in the package";
  const std::string infer = root + "/usr/bin/nst-infer";
  auto help = test::run_command(infer + " --help");
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("--model"), std::string::npos);
  auto ran = test::run_command(infer + " --model " + (dir / "style.safetensors") + " --input " + (dir / "photo.png") +
                               " --output " + (dir / "styled.png"));
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  const cv::Mat styled = cv::imread(dir / "styled.png");
  EXPECT_EQ(styled.cols, 62);
  EXPECT_EQ(styled.rows, 45);
}

}  // namespace
}  // namespace nst
