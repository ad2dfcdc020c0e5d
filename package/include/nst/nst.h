// The nst library for other programs (CMake: find_package(nst) + target_link_libraries(app
// nst::stylizer)): load a style model and stylize cv::Mat images or tensors. See docs/deploy.md.
#pragma once
#include "data/image_io.h"      // read_image_bgr, write_image_bgr (atomic), mat_to_tensor, tensor_to_mat
#include "infer/stylizer.h"     // Stylizer, StylizeOptions (max size, precision, colour, strength, tiles)
#include "nets/model_file.h"    // load_model, save_model
#include "core/runtime.h"       // configure_threads, pick_device
