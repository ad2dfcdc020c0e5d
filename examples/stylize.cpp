// The smallest program built on nst::stylizer: load a style model, stylize one cv::Mat.
#include <nst/nst.h>
#include <opencv2/imgcodecs.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: stylize MODEL.safetensors INPUT_IMAGE OUTPUT_IMAGE\n";
    return 2;
  }
  try {
    nst::configure_threads(0);                           // all cores (Debian's LibTorch would use one)
    auto model = nst::load_model(argv[1]);               // validated; throws "PATH: problem"
    nst::Stylizer stylizer(model.net, torch::kCPU, {});  // default StylizeOptions: fp32, whole image
    const cv::Mat photo = nst::read_image_bgr(argv[2]);  // or cv::imread, any 8-bit BGR cv::Mat
    nst::write_image_bgr(argv[3], stylizer.stylize(photo));
  } catch (const std::exception& e) {
    std::cerr << "stylize: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
