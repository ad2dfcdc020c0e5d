// nst-export: a style model -> ONNX (OpenCV DNN, onnxruntime, phones), TorchScript (PyTorch,
// LibTorch) and a pytorch/examples state dict (.pth). No Python needed.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "core/command_line.h"
#include "core/errors.h"
#include "core/tool.h"
#include "export/onnx_export.h"
#include "export/torchscript_export.h"
#include "nets/model_file.h"

namespace fs = std::filesystem;

namespace {

// Fails before any work on an output whose directory is missing or which is a directory.
void check_output(const std::string& path) {
  if (path.empty()) return;
  if (fs::is_directory(path)) throw nst::path_error(path, "is a directory (give a file name)");
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent))
    throw nst::path_error(path, "directory " + parent.string() + " does not exist");
}

}  // namespace

int main(int argc, char** argv) {
  return nst::run_tool("nst-export", [&] {
    CLI::App app{"Exports a style model to ONNX, TorchScript and/or a pytorch/examples state dict (docs/deploy.md).",
                 "nst-export"};
    app.option_defaults()->always_capture_default();
    std::string model_path, onnx_path, script_path, pth_path;
    nst::OnnxExportOptions onnx;
    nst::add_model_option(app, model_path);
    app.add_option("--onnx", onnx_path, "Write an ONNX model here (dynamic N, H, W)");
    app.add_option("--torchscript", script_path, "Write a TorchScript module here (.pt; torch.jit.load)");
    app.add_option("--pth", pth_path, "Write a pytorch/examples state dict here (.pth; torch.load)");
    app.add_option("--opset", onnx.opset, "ONNX opset: 11 or 13")->check(CLI::IsMember({11, 13}));
    if (auto status = nst::parse_command_line(app, argc, argv, "nst-export")) return *status;
    if (onnx_path.empty() && script_path.empty() && pth_path.empty())
      throw std::runtime_error("nothing to do: give --onnx, --torchscript and/or --pth (see nst-export --help)");
    for (const auto& path : {onnx_path, script_path, pth_path}) check_output(path);

    auto model = nst::load_model(model_path);
    for (const auto& warning : model.warnings) std::cerr << "nst-export: warning: " << warning << "\n";
    const std::string style = model.provenance.is_object() && model.provenance.contains("style") &&
                                      model.provenance["style"].is_string()
                                  ? model.provenance["style"].get<std::string>()
                                  : fs::path(model_path).stem().string();
    onnx.doc = "nst style model '" + style + "' (" + model.net->options().to_json().dump() + ")";
    if (!onnx_path.empty()) {
      nst::export_onnx(onnx_path, model.net, model.provenance, onnx);
      std::cerr << "nst-export: wrote " << onnx_path << " (ONNX opset " << onnx.opset << ", checked)\n";
    }
    if (!script_path.empty()) {
      nst::export_torchscript(script_path, model.net, model.provenance);
      std::cerr << "nst-export: wrote " << script_path << " (TorchScript)\n";
    }
    if (!pth_path.empty()) {
      nst::export_state_dict(pth_path, model.net);
      std::cerr << "nst-export: wrote " << pth_path << " (pytorch/examples state dict)\n";
    }
    return 0;
  });
}
