#include "export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <map>
#include <set>
#include <stdexcept>

#include "core/errors.h"
#include "core/file_checks.h"
#include "data/atomic_file.h"

namespace nst {
namespace {

// Builds the graph node by node; tensors keep their state_dict names as initializer names so a
// user can find "res3.conv1.conv2d.weight" in Netron or onnx.helper.
class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto* graph, std::map<std::string, torch::Tensor> weights)
      : graph_(graph), weights_(std::move(weights)) {}

  // The state_dict tensor `name` as a float initializer (added once).
  std::string weight(const std::string& name) {
    auto found = weights_.find(name);
    if (found == weights_.end()) throw std::runtime_error("onnx export: the net has no tensor '" + name + "'");
    if (!added_.insert(name).second) return name;
    const auto value = found->second.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    auto* tensor = graph_->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(onnx::TensorProto::FLOAT);
    for (auto size : value.sizes()) tensor->add_dims(size);
    tensor->set_raw_data(value.data_ptr(), value.numel() * sizeof(float));  // little-endian, as ONNX requires
    return name;
  }

  // A constant initializer (pads, scales, scalars): OpenCV DNN needs these constant, not computed.
  std::string constant(const std::string& name, const std::vector<int64_t>& values) {
    return raw_constant(name, onnx::TensorProto::INT64, values.data(), values.size(), sizeof(int64_t));
  }
  std::string constant(const std::string& name, const std::vector<float>& values, bool scalar = false) {
    return raw_constant(name, onnx::TensorProto::FLOAT, values.data(), values.size(), sizeof(float), scalar);
  }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& hint) {
    auto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(hint + "/" + op);
    for (const auto& input : inputs) node->add_input(input);
    node->add_output(hint + "/" + op + "_" + std::to_string(++counter_));
    return node;
  }

  static void attr(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& values) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto v : values) a->add_ints(v);
  }
  static void attr(onnx::NodeProto* node, const std::string& name, float value) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  static void attr(onnx::NodeProto* node, const std::string& name, const std::string& value) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(value);
  }

 private:
  std::string raw_constant(const std::string& name, int type, const void* data, size_t count, size_t element,
                           bool scalar = false) {
    if (!added_.insert(name).second) return name;
    auto* tensor = graph_->add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(type);
    if (!scalar) tensor->add_dims(static_cast<int64_t>(count));
    if (count > 0) tensor->set_raw_data(data, count * element);
    return name;
  }

  onnx::GraphProto* graph_;
  std::map<std::string, torch::Tensor> weights_;
  std::set<std::string> added_;
  int counter_ = 0;
};

// The ONNX twin of TransformerNet's layers (nets/transformer_net.cpp), option for option.
class NetWriter {
 public:
  NetWriter(GraphBuilder& g, const TransformerNetOptions& options) : g_(g), o_(options) {}

  std::string conv_layer(const std::string& name, std::string x, int64_t kernel, int64_t stride, bool upsample) {
    const int64_t pad = kernel / 2;
    if (upsample && o_.upsample() == UpsampleKind::transposed) {
      auto* node = g_.node("ConvTranspose", {x, g_.weight(name + ".conv_transpose2d.weight"),
                                             g_.weight(name + ".conv_transpose2d.bias")}, name);
      GraphBuilder::attr(node, "kernel_shape", std::vector<int64_t>{kernel, kernel});
      GraphBuilder::attr(node, "strides", std::vector<int64_t>{2, 2});
      GraphBuilder::attr(node, "pads", std::vector<int64_t>{pad, pad, pad, pad});
      GraphBuilder::attr(node, "output_padding", std::vector<int64_t>{1, 1});
      return node->output(0);
    }
    if (upsample) {  // nearest x2: asymmetric/floor maps output i to input i/2, exactly the repeat
      auto* node = g_.node("Resize", {x, g_.constant("resize_roi", std::vector<float>{}),
                                      g_.constant("resize_scales_x2", std::vector<float>{1, 1, 2, 2})}, name);
      GraphBuilder::attr(node, "mode", std::string("nearest"));
      GraphBuilder::attr(node, "coordinate_transformation_mode", std::string("asymmetric"));
      GraphBuilder::attr(node, "nearest_mode", std::string("floor"));
      x = node->output(0);
    }
    const bool reflect = o_.padding() == PaddingKind::reflect;
    if (reflect && pad > 0) {
      const std::string pads = "pads_reflect_" + std::to_string(pad);
      auto* node = g_.node("Pad", {x, g_.constant(pads, std::vector<int64_t>{0, 0, pad, pad, 0, 0, pad, pad})}, name);
      GraphBuilder::attr(node, "mode", std::string("reflect"));
      x = node->output(0);
    }
    auto* conv = g_.node("Conv", {x, g_.weight(name + ".conv2d.weight"), g_.weight(name + ".conv2d.bias")}, name);
    GraphBuilder::attr(conv, "kernel_shape", std::vector<int64_t>{kernel, kernel});  // OpenCV 4.6 needs it explicit
    GraphBuilder::attr(conv, "strides", std::vector<int64_t>{stride, stride});
    const int64_t conv_pad = reflect ? 0 : pad;
    GraphBuilder::attr(conv, "pads", std::vector<int64_t>{conv_pad, conv_pad, conv_pad, conv_pad});
    return conv->output(0);
  }

  std::string norm(const std::string& name, const std::string& x) {
    onnx::NodeProto* node;
    if (o_.norm() == NormKind::batch) {
      node = g_.node("BatchNormalization", {x, g_.weight(name + ".weight"), g_.weight(name + ".bias"),
                                            g_.weight(name + ".running_mean"), g_.weight(name + ".running_var")},
                     name);
    } else {
      node = g_.node("InstanceNormalization", {x, g_.weight(name + ".weight"), g_.weight(name + ".bias")}, name);
    }
    GraphBuilder::attr(node, "epsilon", 1e-5f);
    return node->output(0);
  }

  std::string relu(const std::string& x, const std::string& hint) { return g_.node("Relu", {x}, hint)->output(0); }

  std::string residual_block(const std::string& name, const std::string& x) {
    auto y = relu(norm(name + ".in1", conv_layer(name + ".conv1", x, 3, 1, false)), name);
    y = norm(name + ".in2", conv_layer(name + ".conv2", y, 3, 1, false));
    return g_.node("Add", {y, x}, name)->output(0);
  }

  std::string net(const std::string& input) {
    auto y = relu(norm("in1", conv_layer("conv1", input, 9, 1, false)), "conv1");
    y = relu(norm("in2", conv_layer("conv2", y, 3, 2, false)), "conv2");
    y = relu(norm("in3", conv_layer("conv3", y, 3, 2, false)), "conv3");
    for (int64_t i = 1; i <= o_.res_blocks(); ++i) y = residual_block("res" + std::to_string(i), y);
    y = relu(norm("in4", conv_layer("deconv1", y, 3, 1, true)), "deconv1");
    y = relu(norm("in5", conv_layer("deconv2", y, 3, 1, true)), "deconv2");
    y = conv_layer("deconv3", y, 9, 1, false);
    if (o_.output() == OutputKind::tanh) {  // 127.5 * (1 + tanh(y))
      y = g_.node("Tanh", {y}, "output")->output(0);
      y = g_.node("Add", {y, g_.constant("one", std::vector<float>{1.0f}, true)}, "output")->output(0);
      y = g_.node("Mul", {y, g_.constant("half_range", std::vector<float>{127.5f}, true)}, "output")->output(0);
    }
    return y;
  }

 private:
  GraphBuilder& g_;
  const TransformerNetOptions& o_;
};

void set_image_type(onnx::ValueInfoProto* value, const std::string& name) {
  value->set_name(name);
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tensor->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  shape->add_dim()->set_dim_value(3);
  shape->add_dim()->set_dim_param("H");
  shape->add_dim()->set_dim_param("W");
}

std::map<std::string, torch::Tensor> state_of(TransformerNet& net) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : net->named_parameters()) state[item.key()] = item.value();
  for (const auto& item : net->named_buffers()) state[item.key()] = item.value();
  return state;
}

}  // namespace

void OnnxExportOptions::validate() const {
  if (opset != 11 && opset != 13) throw std::runtime_error("--opset must be 11 or 13, got " + std::to_string(opset));
}

std::string onnx_model_bytes(TransformerNet& net, const nlohmann::json& provenance, const OnnxExportOptions& options) {
  options.validate();
  onnx::ModelProto model;
  model.set_ir_version(options.opset == 11 ? 6 : 7);  // the IR versions that introduced these opsets
  model.set_producer_name("nst");
  model.set_domain("nst");
  model.set_model_version(1);
  model.set_doc_string(options.doc.empty() ? "nst fast style transfer net" : options.doc);
  model.add_opset_import()->set_version(options.opset);
  auto add_meta = [&](const std::string& key, const std::string& value) {
    auto* entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  };
  add_meta("architecture", net->options().to_json().dump());
  add_meta("provenance", provenance.dump());
  add_meta("input", "RGB 0..255, [N,3,H,W], H and W multiples of 4 and at least 16 (pad, then crop the output)");

  auto* graph = model.mutable_graph();
  graph->set_name("TransformerNet");
  set_image_type(graph->add_input(), "input");
  GraphBuilder builder(graph, state_of(net));
  NetWriter writer(builder, net->options());
  const std::string last = writer.net("input");
  builder.node("Identity", {last}, "output")->set_output(0, "output");  // a stable output name
  set_image_type(graph->add_output(), "output");

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("onnx export produced an invalid model (a bug): ") + e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw std::runtime_error("onnx export: cannot serialize the model");
  return bytes;
}

void export_onnx(const std::string& path, TransformerNet& net, const nlohmann::json& provenance,
                 const OnnxExportOptions& options) {
  const std::string bytes = onnx_model_bytes(net, provenance, options);
  write_bytes_atomically(path, bytes);
}

void check_onnx_file(const std::string& path) {
  const std::string bytes = read_whole_file(path);
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) throw path_error(path, "not an ONNX model (protobuf parse failed)");
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string message = e.what();
    throw path_error(path, "fails onnx::checker: " + message.substr(0, message.find('\n')));
  }
}

}  // namespace nst
